"""Stage 2, codecs: the codec interface (:mod:`.base`), the registry of adapters and their shipped
TOML configurations (:mod:`.registry`; the files are the repository's top-level ``codecs/*.toml``),
and the adapters: classical (:mod:`.classical`), external programs (:mod:`.external`) and learned
(:mod:`.learned`).

May import: :mod:`rdbench.data`, :mod:`rdbench.models`, :mod:`rdbench.errors`, :mod:`rdbench.shipped`.
"""

from rdbench.codecs.base import Codec, CodecConfig, CodecContext

__all__ = ["Codec", "CodecConfig", "CodecContext"]
