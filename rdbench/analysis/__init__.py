"""Stage 5, analysis: aggregate records into curves, BD-rate and BD-PSNR, tables, RD and
complexity plots, shipped reference curves (``reference_curves/*.json``), curve import and run
export.

May import: :mod:`rdbench.store`, :mod:`rdbench.run` (metric formulas, complexity points),
:mod:`rdbench.data`, :mod:`rdbench.codecs` (names and configurations), :mod:`rdbench.errors`.
"""
