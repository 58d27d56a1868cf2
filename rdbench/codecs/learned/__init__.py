"""Learned codecs: one base class (:class:`~rdbench.codecs.learned.base.LearnedCodec`: where
weights come from, safe checkpoint loading, seeding, tensors, device, the complexity hooks) and
thin adapters over it: the MLIC family (models in :mod:`rdbench.models`) and CompressAI's zoo.

May import: :mod:`rdbench.codecs.base`, :mod:`rdbench.models`, :mod:`rdbench.data`,
:mod:`rdbench.errors`.
"""
