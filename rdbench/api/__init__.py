"""Stage 6, api: the library entry points, one call per thing the command line does that measures.

:func:`rdbench.api.benchmark.benchmark` does what ``rdbench run`` does and
:func:`rdbench.api.complexity.complexity` what ``rdbench complexity`` does, returning the records
(points) as a pandas DataFrame instead of printing them. WHY a stage of its own: such a call needs
the whole chain (dataset names and DataFrames are analysis, planning and executing are run) and
the command line must be a thin wrapper over it, so it sits between the two (as
lm-evaluation-harness's ``simple_evaluate`` sits under its CLI). Both are public names of
:mod:`rdbench` (``rdbench.benchmark``, ``rdbench.complexity``).

May import: :mod:`rdbench.analysis`, :mod:`rdbench.run`, :mod:`rdbench.store`,
:mod:`rdbench.codecs`, :mod:`rdbench.data`, :mod:`rdbench.models`, :mod:`rdbench.errors`.
"""
