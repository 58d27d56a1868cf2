"""Issue 23, items 5, 9, 10, 11, 13 and 15: values that made rdbench print meaningless numbers, store
jobs that could never run, hang, or crash with a traceback are refused up front with one line and
exit 2 (nothing stored), and the docs say what the code does.

Every test runs the real command (``python -m rdbench`` or the library) on real Kodak crops and a
real SQLite database.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import build_store, rdbench


def _one_line_usage_error(result, *words: str) -> None:
    """Exit 2, an ``error:`` line naming ``words`` (a hint line may follow), no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error:") and all(w in first for w in words), result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, Path]:
    """jpeg and webp run by rdbench on three real Kodak crops at qualities 20, 40, 60, 80."""
    root = tmp_path_factory.mktemp("issue23_inputs")
    return {"db": build_store(root), "crops": root / "crops"}


# -- item 5: bootstrap options --------------------------------------------------------------------------------------


def _bdrate_ci(measured, *extra: str):
    return rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", measured["crops"], "--ci", "95",
                   "--db", measured["db"], *extra)


@pytest.mark.parametrize("resamples", ["1", "5", "399"])
def test_too_few_bootstrap_resamples_are_a_usage_error(measured, resamples):
    """--bootstrap 1 printed a degenerate "95 %" interval and 5 one that excluded its own value; a 95 %
    interval needs 400 resamples (10 beyond each end), docs/bd-rate.md section 4."""
    _one_line_usage_error(_bdrate_ci(measured, "--bootstrap", resamples), f"--bootstrap {resamples}", "400")


def test_enough_resamples_give_an_interval_around_the_value(measured):
    result = _bdrate_ci(measured, "--bootstrap", "400", "--format", "json")
    assert result.returncode == 0, result.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    assert cell["resamples"] == 400 and cell["ci_low"] < cell["ci_high"]


def test_the_minimum_grows_with_the_level(measured):
    result = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", measured["crops"], "--ci", "99",
                     "--bootstrap", "1000", "--db", measured["db"])
    _one_line_usage_error(result, "--bootstrap 1000", "2000")


def test_negative_seed_is_a_usage_error_not_a_numpy_traceback(measured):
    _one_line_usage_error(_bdrate_ci(measured, "--seed", "-1"), "--seed -1", "non-negative")


@pytest.mark.parametrize(("options", "words"), [({"seed": -1}, "seed"), ({"resamples": 5}, "400"),
                                                ({"seed": 1.5}, "seed"), ({"ci": 100.0}, "between 0 and 100")])
def test_library_bd_table_refuses_bad_resampling_with_a_value_error(measured, options, words):
    import rdbench as library
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.store.sqlite import Store

    with Store(measured["db"], readonly=True) as store:
        datasets = resolve_datasets(store, [str(measured["crops"])])
        kwargs = {"ci": 95.0, **options}
        with pytest.raises(ValueError, match=words):
            library.bd_table(store, "jpeg", ["webp"], datasets, **kwargs)
        table = library.bd_table(store, "jpeg", ["webp"], datasets, ci=95.0, seed=3)
        assert math.isfinite(table.cells[0]["ci_low"])
