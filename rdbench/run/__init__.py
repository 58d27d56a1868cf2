"""Stage 4, run: plan the jobs a command asks for, execute them (in-process, supervised worker
processes or a Dask cluster, behind one executor protocol), measure each job (encode, decode,
metrics, time, memory) and the complexity of codecs against resolution.

May import: :mod:`rdbench.data`, :mod:`rdbench.codecs`, :mod:`rdbench.store`,
:mod:`rdbench.errors`.
"""
