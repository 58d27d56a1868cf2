"""rdbench: benchmarking and rate-distortion analysis for learned image compression.

Data flows one way: dataset -> codec -> record -> store -> analysis -> table/plot, and the
package's folders follow it (``data``, ``models``, ``codecs``, ``store``, ``run``, ``analysis``,
``api``, ``cli``; see docs/architecture.md).

The names below are the public API for notebooks and scripts; anything else is internal and may
move. They are imported lazily (on first use), so ``import rdbench`` stays fast and does not
import torch::

    import rdbench
    records = rdbench.benchmark("jpeg,webp", "kodak", jobs=2)       # what `rdbench run` does
    with rdbench.Store("results/rdbench.sqlite", readonly=True) as store:
        table = rdbench.bd_table(store, "vtm18-published", ["jpeg"], ["kodak"])
    records = rdbench.load_records("results/rdbench.sqlite")     # pandas: one row per record
    rdbench.bd_frame(table).pivot(index="codec", columns="dataset", values="value")
    print(rdbench.paper_table(table, columns="value,ci", labels={"jpeg": "JPEG"}, average=True).latex())
    fig = rdbench.plot_rd(rdbench.load_curves(None, ["mlicpp-paper", "vtm17"], "kodak"), inset=(0.1, 0.4))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC: dict[str, str] = {
    # data
    "resolve_dataset": "rdbench.data.datasets",
    "load_image": "rdbench.data.images",
    # codecs
    "Codec": "rdbench.codecs.base",
    "CodecConfig": "rdbench.codecs.base",
    "CodecContext": "rdbench.codecs.base",
    "QualityDomain": "rdbench.codecs.base",
    "LearnedCodec": "rdbench.codecs.learned.base",
    "load_configs": "rdbench.codecs.registry",
    "resolve_codecs": "rdbench.codecs.registry",
    "load_adapter": "rdbench.codecs.registry",
    # metrics (declared once: rdbench.metric_spec)
    "Metric": "rdbench.metric_spec",
    # store
    "Record": "rdbench.store.record",
    "Store": "rdbench.store.sqlite",
    # run
    "psnr": "rdbench.run.metrics.formulas",
    "ms_ssim": "rdbench.run.metrics.dispatch",
    "ms_ssim_db": "rdbench.run.metrics.formulas",
    "bpp": "rdbench.run.metrics.formulas",
    # analysis
    "aggregate": "rdbench.analysis.aggregate",
    "bd_rate": "rdbench.analysis.bdrate",
    "bd_psnr": "rdbench.analysis.bdrate",
    "BdRateError": "rdbench.analysis.bdrate",
    "Catalogue": "rdbench.analysis.catalogue",
    "curve": "rdbench.analysis.curves",
    "measured_curve": "rdbench.analysis.curves",
    "per_image_curves": "rdbench.analysis.curves",
    "published_curve": "rdbench.analysis.curves",
    "published_names": "rdbench.analysis.curves",
    "known_names": "rdbench.analysis.name_checks",
    "resolve_curve": "rdbench.analysis.curves",
    "select_measured": "rdbench.analysis.curves",
    "CurveChoiceError": "rdbench.analysis.curves",
    "PSNR_CAP_DB": "rdbench.analysis.aggregate",
    "capped_db": "rdbench.analysis.aggregate",
    "bd_table": "rdbench.analysis.tables",
    "BdTable": "rdbench.analysis.tables",
    "BdCell": "rdbench.analysis.bd_cells",
    "format_cell": "rdbench.analysis.bd_format",
    # paper output: tables and figures as they go into a paper (docs/paper-output.md)
    "paper_table": "rdbench.analysis.paper_table",
    "PaperTable": "rdbench.analysis.paper_table",
    "load_labels": "rdbench.analysis.paper_table",
    "metrics_paper_table": "rdbench.analysis.metrics_paper_table",
    # analysis: results as pandas DataFrames, and the HTML report
    "load_records": "rdbench.analysis.dataframes",
    "load_curves": "rdbench.analysis.dataframes",
    "bd_frame": "rdbench.analysis.dataframes",
    "load_targets": "rdbench.analysis.targets",
    "corpus_budget": "rdbench.analysis.budget",
    "build_report": "rdbench.analysis.report",
    "write_report": "rdbench.analysis.report",
    "styles": "rdbench.analysis.plots",
    "rate_difference": "rdbench.analysis.bdrate",
    "interpolation_error": "rdbench.analysis.interpolation_error",
    "per_image_values": "rdbench.analysis.per_image",
    "paired_images": "rdbench.analysis.bootstrap",
    "bootstrap_bd": "rdbench.analysis.bootstrap",
    "plot_delta": "rdbench.analysis.plots",
    "list_references": "rdbench.analysis.references",
    "load_reference": "rdbench.analysis.references",
    "plot_rd": "rdbench.analysis.paper_figure",
    "plot_per_image": "rdbench.analysis.plots",
    "scaling_exponents": "rdbench.analysis.complexity",
    "plot_complexity": "rdbench.analysis.complexity",
    "complexity_rows": "rdbench.analysis.complexity",
    # run: complexity points
    "measure_point": "rdbench.run.complexity",
    "measure_point_fresh": "rdbench.run.complexity",
    # api: what `rdbench run` and `rdbench complexity` do, returning DataFrames
    "benchmark": "rdbench.api.benchmark",
    "rescore": "rdbench.api.rescore",
    "complexity": "rdbench.api.complexity",
    # output: the tables every command prints (table, csv, json, markdown, latex)
    "render": "rdbench.cli.formatting",
    # errors
    "RdbenchError": "rdbench.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'rdbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
