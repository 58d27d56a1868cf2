"""Learned codecs: adapters that wrap the models of :mod:`rdbench.models` (MLIC family) and
CompressAI's zoo, with the one safe checkpoint loader they share.

May import: :mod:`rdbench.codecs.base`, :mod:`rdbench.models`, :mod:`rdbench.data`,
:mod:`rdbench.errors`.
"""
