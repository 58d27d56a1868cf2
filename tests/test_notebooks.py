"""The notebooks run top to bottom, unedited, in a real kernel against a store built with real codecs."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to execute the notebooks")
nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to read the notebooks")
pytest.importorskip("ipykernel", reason="ipykernel provides the python3 kernel the notebooks run in")
#: A Jupyter kernel per notebook: outside the fast lane.
pytestmark = pytest.mark.slow


def _execute(name: str) -> tuple[str, int]:
    """Run a notebook in notebooks/ as its working directory; return its text/Markdown outputs and PNG count."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    texts, images = [], 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", output
            texts.append(output.get("text", ""))
            data = output.get("data", {})
            texts.append(data.get("text/markdown", ""))
            images += "image/png" in data
    return "\n".join(texts), images


def test_report_notebook_on_a_measured_store(measured_store, monkeypatch):
    db = measured_store.db
    monkeypatch.setenv("RDBENCH_DB", str(db))
    monkeypatch.setenv("RDBENCH_ANCHOR", "jpeg")
    monkeypatch.delenv("RDBENCH_DATASETS", raising=False)
    monkeypatch.delenv("RDBENCH_METRIC", raising=False)
    text, images = _execute("report.ipynb")
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:  # the crops folder, stored as crops-<8 hex of its path>
        (crops,) = {g["dataset"] for g in store.record_groups()}
    assert "**BD-rate (%) vs jpeg (psnr, pchip)**" in text
    assert "| webp |" in text and f"{crops} overlap" in text
    assert f"anchor jpeg: {crops}: measured in" in text
    assert f"Per-image psnr spread on {crops}" in text and "| jpeg | 20 |" in text
    assert images == 2  # one RD figure and one per-image figure for the one dataset


def test_published_curves_notebook():
    text, images = _execute("published_curves.ipynb")
    assert "**BD-rate (%) vs vtm18-published (psnr, pchip)**" in text
    assert "| mlicpp-paper | -14.408 |" in text and "lic-tcm-large-paper" in text
    assert images == 3
