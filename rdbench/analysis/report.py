"""One self-contained HTML report of a results database (``rdbench report``).

What it holds: with several metrics, the table over metrics JPEG AI papers print (per metric the mean
over images of per-image BD-rates, and their average); the BD-rate table of every codec against an
anchor per metric (each cell the value with its bootstrap interval, the overlap, interpolation
error and integration interval beside it, NaN cells with their reason, and every further field :func:`rdbench.analysis.tables.bd_table`
gives), RD curves per dataset and metric (each point's codec, quality, bpp and metric value on
hover), the per-image spread behind each mean (figure and min / median / max / std table),
complexity figures and scaling exponents when the database holds ``rdbench complexity`` points, the
failed records with their errors, and the provenance of every number (the records' rdbench version
and commit, codec libraries and versions, machines, GPUs and dates; each published or imported
curve's source).

What is shown is gathered into :class:`rdbench.analysis.report_model.Report` (every number already
formatted); this module lays it out with the Jinja2 templates in ``report_assets/``, autoescaped,
so every string that comes from the database or an imported file (codec names, descriptions,
errors, file names) is text. Only rdbench's own markup goes in unescaped: the figures' SVG (whose
text :mod:`rdbench.analysis.svgplot` escapes) and the report's script and style sheet.

WHY one file and nothing else: a report is mailed, archived and opened years later, offline. Styles,
the sorting script and the figures are inline; a Content-Security-Policy allows no request at all
and only the report's own script and styles (by hash), so even a string that got past escaping
could not run, restyle or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from rdbench import __version__
from rdbench.analysis.aggregate import PSNR_CAP_DB
from rdbench.analysis.report_gather import gather_report
from rdbench.analysis.report_model import Report
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.store.sqlite import Store


def _asset(name: str) -> str:
    return resources.files("rdbench.analysis").joinpath("report_assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _csp(script: str, style: str) -> str:
    """No request of any kind; only the report's own script and style block (by hash) apply."""
    return (f"default-src 'none'; img-src data:; style-src {_sha256(style)}; script-src {_sha256(script)}; "
            "base-uri 'none'; form-action 'none'")


def _environment() -> jinja2.Environment:
    """Templates from the package's ``report_assets/``, every ``{{ }}`` escaped (autoescape is on for
    everything they render, whatever the file name) and an undefined name an error, not an empty string."""
    return jinja2.Environment(loader=jinja2.FunctionLoader(_asset), autoescape=True, trim_blocks=True,
                              lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def render(report: Report) -> str:
    """The report as one HTML document: its own script and styles inline, allowed by hash."""
    script, style = _asset("report.js"), _asset("report.css")
    return _environment().get_template("report.html.j2").render(
        report=report, script=script, style=style, csp=_csp(script, style), version=__version__,
        psnr_cap_db=f"{PSNR_CAP_DB:g}")


def build_report(store: Store, anchor: str, *, codecs: Sequence[str] | None = None,
                 datasets: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                 method: str = "pchip", title: str | None = None, command: str | None = None,
                 bd_options: dict[str, Any] | None = None,
                 qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
                 anchor_qualities: list[str] | None = None,
                 labels: Mapping[str, str] | None = None, averaged: Sequence[str] | None = None) -> str:
    """The report as one HTML document (a string): :func:`rdbench.analysis.report_gather.gather_report`
    (which says what each argument selects) rendered by :func:`render`."""
    return render(gather_report(store, anchor, codecs=codecs, datasets=datasets, metrics=metrics, method=method,
                                title=title, command=command, bd_options=bd_options, qualities=qualities,
                                anchor_qualities=anchor_qualities, labels=labels,
                                averaged=averaged))


def write_report(path: str | Path, html: str) -> Path:
    """Write the report atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(path)
    return path
