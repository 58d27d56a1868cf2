"""Codec interface, registry and adapters (rdbench's own package; the top-level ``codecs/``
folder holds declarative TOML configurations only)."""

from rdbench.codecs.base import Codec, CodecConfig, CodecContext

__all__ = ["Codec", "CodecConfig", "CodecContext"]
