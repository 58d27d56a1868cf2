"""Stage 2, codecs: the codec interface (:mod:`.base`), the registry of adapters and their shipped
TOML configurations (:mod:`.registry`, ``configs/*.toml``), and the adapters: classical
(:mod:`.classical`), external programs (:mod:`.external`) and learned (:mod:`.learned`).

May import: :mod:`rdbench.data`, :mod:`rdbench.models`, :mod:`rdbench.errors`.
"""

from rdbench.codecs.base import Codec, CodecConfig, CodecContext

__all__ = ["Codec", "CodecConfig", "CodecContext"]
