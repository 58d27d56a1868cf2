"""Codecs that run as external programs (VTM, x265, avifenc, cjxl): the subprocess machinery
(no shell, timeouts, private work folders, version banners), RGB <-> Y'CbCr conversion and the
VVC SPS reader that only these adapters use.

May import: :mod:`rdbench.codecs.base`, :mod:`rdbench.data`, :mod:`rdbench.errors`.
"""
