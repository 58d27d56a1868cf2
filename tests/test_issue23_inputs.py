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
from helpers import kodak_crops, rdbench


def _one_line_usage_error(result, *words: str) -> None:
    """Exit 2, an ``error:`` line naming ``words`` (a hint line may follow), no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error:") and all(w in first for w in words), result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


@pytest.fixture(scope="module")
def measured(measured_store) -> dict[str, Path]:
    """jpeg and webp run by rdbench on three real Kodak crops at qualities 20, 40, 60, 80."""
    return {"db": measured_store.db, "crops": measured_store.crops}


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


# -- item 9: one rule for codec and curve names -----------------------------------------------------------------------

BAD_NAMES = ["", "..", "a/b", "my@codec", "My-Codec", "jpeg__x", "a,b"]


def _jpeg_toml(folder: Path, name: str | None, file_name: str = "mine") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_name}.toml"
    path.write_text((f"name = {json.dumps(name)}\n" if name is not None else "")
                    + 'adapter = "imagecodecs"\nqualities = [50]\n[params]\nformat = "jpeg"\n')
    return path


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_toml_codec_name_import_would_refuse_is_refused_naming_the_file(measured, tmp_path, name):
    """`run --keep-bitstreams` and `export` crashed on such names; now every command refuses the file, as
    `import --name` refuses the same name."""
    import os

    path = _jpeg_toml(tmp_path / "codecs", name)
    env = dict(os.environ, RDBENCH_CODECS_PATH=str(path.parent))
    db = tmp_path / "r.sqlite"
    for args in (["codecs"], ["run", "--codec", "jpeg", "--dataset", measured["crops"], "--quality", "50",
                              "--keep-bitstreams", tmp_path / "bits", "--db", db]):
        result = rdbench(*args, env=env)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert str(path) in result.stderr and "not usable" in result.stderr, result.stderr
    assert not db.exists() and not (tmp_path / "bits").exists()
    if name and name == name.lower():  # import takes an empty --name as none, and lower-cases names
        curve = tmp_path / "curve.json"
        curve.write_text(json.dumps({"bpp": [0.2, 0.5, 1.0], "psnr": [28.0, 31.0, 34.0]}))
        imported = rdbench("import", curve, "--name", name, "--dataset", "kodak", "--db", db)
        assert imported.returncode == 2 and "not a usable curve name" in imported.stderr, imported.stderr


def test_a_file_name_that_is_no_codec_name_is_refused_without_a_name_key(tmp_path):
    import os

    path = _jpeg_toml(tmp_path / "codecs", None, file_name="my@codec")
    result = rdbench("codecs", env=dict(os.environ, RDBENCH_CODECS_PATH=str(path.parent)))
    assert result.returncode == 1 and str(path) in result.stderr and "file name" in result.stderr, result.stderr


@pytest.mark.slow
def test_a_usable_name_works_for_a_toml_codec_and_an_imported_curve(measured, tmp_path):
    """The same rule admits the same names: letters, digits and . + _ -."""
    import os

    name = "my-jpeg.v2+q_1"
    path = _jpeg_toml(tmp_path / "codecs", name)
    env = dict(os.environ, RDBENCH_CODECS_PATH=str(path.parent))
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", name, "--dataset", measured["crops"], "--quality", "50", "--keep-bitstreams",
            tmp_path / "bits", "--db", db, env=env, check=True)
    assert len(list((tmp_path / "bits").rglob("*"))) > 1
    rdbench("export", "--codec", name, "--db", db, "--out", tmp_path / "out", env=env, check=True)
    curve = tmp_path / "curve.json"
    curve.write_text(json.dumps({"bpp": [0.2, 0.5, 1.0], "psnr": [28.0, 31.0, 34.0]}))
    rdbench("import", curve, "--name", "other-" + name, "--dataset", "kodak", "--db", db, check=True)


# -- item 10: --timeout nan / inf ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "0"])
def test_a_timeout_that_is_no_finite_positive_number_is_a_usage_error_storing_nothing(measured, tmp_path, value):
    """nan and inf passed the range check: every job was stored as failed and a rerun skipped them."""
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--dataset", measured["crops"], "--quality", "50",
                     f"--timeout={value}", "--db", db)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--timeout" in result.stderr and not db.exists(), result.stderr


def test_the_library_executor_refuses_the_same_timeouts():
    from rdbench.errors import UsageError
    from rdbench.run.executors import make_executor

    for value in (math.nan, math.inf, -1.0):
        with pytest.raises(UsageError, match="positive, finite"):
            make_executor("local", jobs=2, timeout_s=value)
    assert make_executor("local", jobs=2, timeout_s=30.0).timeout_s == 30.0


# -- item 11: a malformed Dask address -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["notaurl", "tcp://127.0.0.1", "http://127.0.0.1:8786", "tcp://:8786"])
def test_a_malformed_scheduler_address_exits_2_at_once_without_a_traceback(measured, tmp_path, address):
    """It printed the right error, then a half-built Client waited 60 s in __del__ and printed a traceback."""
    import time

    pytest.importorskip("distributed", reason="the 'distributed' package is needed for Dask runs")
    db = tmp_path / "r.sqlite"
    started = time.monotonic()
    result = rdbench("run", "--codec", "jpeg", "--dataset", measured["crops"], "--quality", "50", "--executor", "dask",
                     "--scheduler", address, "--db", db, timeout=60)
    assert time.monotonic() - started < 30, result.stderr
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"--scheduler {address!r} is not a Dask scheduler address" in result.stderr and not db.exists()


# -- item 13: the docs say what the code does -----------------------------------------------------------------------


def _dataset(measured) -> str:
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.store.sqlite import Store

    with Store(measured["db"], readonly=True) as store:
        return resolve_datasets(store, [str(measured["crops"])])[0]


def test_overlap_is_the_share_of_the_joint_quality_range_as_the_report_says(measured):
    """The report said "the share of the joint log-rate range"; a BD-rate's overlap is over quality."""
    import numpy as np

    import rdbench as library
    from rdbench.store.sqlite import Store

    dataset = _dataset(measured)
    curves = library.load_curves(measured["db"], ["jpeg", "webp"], [dataset], "psnr")
    ranges = {name: (np.log10(group["bpp"]), group["value"]) for name, group in curves.groupby("name")}

    def share(axis: int) -> float:
        (a, t) = (ranges["jpeg"][axis], ranges["webp"][axis])
        return (min(a.max(), t.max()) - max(a.min(), t.min())) / (max(a.max(), t.max()) - min(a.min(), t.min()))

    result = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", measured["crops"], "--format",
                     "json", "--db", measured["db"], check=True)
    (cell,) = json.loads(result.stdout)["cells"]
    assert cell["overlap"] == pytest.approx(share(1)) and abs(share(1) - share(0)) > 0.01
    with Store(measured["db"], readonly=True) as store:
        html = library.build_report(store, "jpeg", codecs=["webp"], datasets=[dataset], metrics=("psnr",))
    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "report.ipynb").read_text())["cells"]
    notebook = "".join("".join(cell["source"]) for cell in cells)
    for text in (" ".join(html.split()), " ".join(notebook.split())):
        assert "joint quality range" in text and "log-rate range" not in text


@pytest.mark.slow
def test_kept_bitstream_folders_of_a_learned_codec_follow_the_documented_pattern(tmp_path):
    """A learned codec's folder is <codec>-<config hash>-w<weights>; the docs gave <codec>-<config hash>."""
    import os
    import re

    pytest.importorskip("compressai")
    crops = kodak_crops(tmp_path / "crops", 1, (0, 0, 64, 64))
    documented = "<codec>-<config hash>[-w<weights>][-<device>]"
    help_text = "".join(rdbench("run", "--help", check=True).stdout.split())  # click wraps inside words
    assert "".join(documented.split()) in help_text
    assert documented in (Path(__file__).resolve().parents[1] / "docs" / "external-codecs.md").read_text()
    codec = "bmshj2018-hyperprior-random"
    rdbench("run", "--codec", codec, "--dataset", crops, "--keep-bitstreams", tmp_path / "bits", "--db",
            tmp_path / "r.sqlite", env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    (dataset,) = (tmp_path / "bits").iterdir()
    (folder,) = dataset.iterdir()
    assert re.fullmatch(rf"{codec}-[0-9a-f]+-w[0-9a-f]{{8}}", folder.name), folder.name


def test_load_curves_takes_a_list_of_both_metrics_as_the_docs_say(measured):
    import rdbench as library
    from rdbench.errors import UsageError

    docs = (Path(__file__).resolve().parents[1] / "docs" / "analysis.md").read_text()
    assert "may be both" not in docs and '`["psnr", "ms-ssim"]`' in docs
    dataset = _dataset(measured)
    frame = library.load_curves(measured["db"], ["jpeg"], [dataset], ["psnr", "ms-ssim"])
    assert set(frame["metric"]) == {"psnr", "ms-ssim"}
    with pytest.raises(UsageError, match="a list of several"):
        library.load_curves(measured["db"], ["jpeg"], [dataset], "both")


@pytest.mark.slow
def test_an_imported_curve_is_an_imported_curve_in_every_message(measured, tmp_path):
    """The bootstrap footnote said "is a imported curve"."""
    import shutil

    db = tmp_path / "r.sqlite"
    shutil.copy(measured["db"], db)
    curve = tmp_path / "paper.json"
    curve.write_text(json.dumps({"bpp": [0.3, 0.6, 1.0, 1.6], "psnr": [27.0, 30.0, 32.5, 35.0]}))
    rdbench("import", curve, "--name", "paper", "--dataset", measured["crops"], "--db", db, check=True)
    result = rdbench("bdrate", "--anchor", "jpeg", "--codec", "paper", "--dataset", measured["crops"], "--ci", "95",
                     "--per-image", "--db", db)
    assert "is an imported curve" in result.stdout + result.stderr, result.stdout + result.stderr
    assert " a imported" not in result.stdout + result.stderr


# -- item 15: the wheel test inside a virtualenv; unavailable_reason never raises -----------------------------------


def test_rdbench_codecs_lists_pillow_as_unavailable_when_pil_cannot_be_imported(tmp_path):
    """`rdbench codecs` died with a ModuleNotFoundError traceback from PillowCodec.unavailable_reason. Python
    refuses to import a module whose sys.modules entry is None (the import system's documented rule), so
    this is the real command on an interpreter where PIL cannot be imported."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['PIL'] = None\n"
            "from rdbench.cli.main import main\n"
            "sys.argv = ['rdbench', 'codecs', '--format', 'json']\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            check=False, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    rows = {row["codec"]: row for row in json.loads(result.stdout)}
    assert rows["pillow-jpeg"]["available"] == "no" and "Pillow" in rows["pillow-jpeg"]["why_not"]
    assert rows["jpeg"]["available"] == "yes"  # imagecodecs is unaffected


def test_a_venv_made_for_the_wheel_test_sees_the_packages_of_the_virtualenv_the_tests_run_in(tmp_path):
    """The wheel test's venv came from the *base* interpreter (`venv --system-site-packages`), so inside
    a virtualenv it lacked the virtualenv's packages (Pillow). Here the tests' interpreter is itself a
    virtualenv holding a package the base interpreter lacks: a venv made the old way cannot import it,
    one made by helpers.venv_with_this_environment can."""
    import subprocess

    from helpers import venv_with_this_environment

    outer = venv_with_this_environment(tmp_path / "outer")  # a virtualenv the tests could run in
    site_dir = subprocess.run([str(outer), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    Path(site_dir, "issue23_only_in_the_virtualenv.py").write_text("HERE = True\n")
    probe = "import issue23_only_in_the_virtualenv, PIL; print('ok')"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(outer), *args], capture_output=True, text=True, check=False, timeout=300,
                              cwd=tmp_path)

    old = run("-m", "venv", "--system-site-packages", "--without-pip", str(tmp_path / "old"))
    assert old.returncode == 0, old.stderr
    assert _python_in(tmp_path / "old", probe).returncode != 0  # the failure the wheel test had
    tests = Path(__file__).resolve().parent
    made = run("-c", f"import sys; sys.path.insert(0, {str(tests)!r}); from pathlib import Path; "
                     f"from helpers import venv_with_this_environment as make; print(make(Path({str(tmp_path / 'new')!r})))")
    assert made.returncode == 0, made.stderr
    new = _python_in(tmp_path / "new", probe)
    assert new.returncode == 0 and new.stdout.strip() == "ok", new.stderr


def _python_in(venv: Path, code: str):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False,
                          env=env, timeout=300)
