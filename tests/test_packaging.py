"""A non-editable install works: the wheel carries the codec configurations and dataset manifests
(from the checkout's top-level ``codecs/`` and ``datasets/``) and the shipped reference curves, and
the public API imports lazily."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from helpers import venv_with_this_environment

from rdbench.shipped import INSTALLED_AS

REPO = Path(__file__).resolve().parents[1]


def test_the_build_backend_installs_the_top_level_folders_where_rdbench_looks():
    """pyproject.toml's path rewriting and :data:`rdbench.shipped.INSTALLED_AS` name the same pairs."""
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["sources"] == {top: f"rdbench/{inside}" for top, inside in INSTALLED_AS.items()}
    assert set(INSTALLED_AS) <= set(wheel["only-include"])


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with rdbench installed from a wheel built from this checkout.

    The venv sees this interpreter's site-packages for the heavy dependencies (torch, ...), whether
    the tests run in a virtualenv or not (:func:`helpers.venv_with_this_environment`), but gets
    rdbench itself only from the wheel; the wheel is built from a copy of the sources so the
    checkout gets no build/ or egg-info folders.
    """
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("rdbench", "codecs", "datasets"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    # the build backend (hatchling, a test extra) comes from this environment: no index needed
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(root / "dist"), str(src)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    wheel = next((root / "dist").glob("rdbench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for top, inside in INSTALLED_AS.items():  # every shipped file, in the package, where shipped_dir looks
        assert {f"rdbench/{inside}/{path.name}" for path in (REPO / top).glob("*.toml")} <= names, top
    assert "rdbench/codecs/configs/jpeg.toml" in names and "rdbench/data/manifests/kodak.toml" in names
    assert "rdbench/analysis/reference_curves/mlicpp-paper__kodak.json" in names
    # the report's templates, script and styles (package data read through importlib.resources)
    assert {f"rdbench/analysis/report_assets/{n}" for n in ("report.html.j2", "report.js", "report.css")} <= names
    venv = root / "venv"
    python = venv_with_this_environment(venv)  # sees this interpreter's packages, however it was made
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    return venv


def _in_venv(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RDBENCH_") and k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / "python"), *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.slow
def test_wheel_install_lists_codecs_datasets_and_computes_bdrate_on_shipped_curves(wheel_venv, tmp_path):
    where = _in_venv(wheel_venv, "-c", "import rdbench; print(rdbench.__file__)", cwd=tmp_path)
    assert str(wheel_venv) in where.stdout, "the venv must import rdbench from the wheel, not the checkout"
    rdbench = ("-m", "rdbench")
    codecs = _in_venv(wheel_venv, *rdbench, "codecs", "--format", "json", cwd=tmp_path)
    assert codecs.returncode == 0, codecs.stderr
    listed = {row["codec"] for row in json.loads(codecs.stdout)}
    assert {"jpeg", "webp", "mlicpp", "vtm17", "mbt2018-mean-mse"} <= listed
    datasets = _in_venv(wheel_venv, *rdbench, "datasets", "list", "--format", "json", cwd=tmp_path)
    assert datasets.returncode == 0, datasets.stderr
    assert {row["dataset"] for row in json.loads(datasets.stdout)} >= {"kodak", "tecnick", "clic-pro-valid"}
    table = _in_venv(wheel_venv, *rdbench, "bdrate", "--anchor", "vtm18-published", "--codec", "mlicpp-paper",
                     "--dataset", "kodak", "--format", "json", "--db", str(tmp_path / "none.sqlite"), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    row = json.loads(table.stdout)["rows"][0]
    assert row["codec"] == "mlicpp-paper" and row["kodak"] == pytest.approx(-14.41, abs=0.01)
    assert not list(tmp_path.glob("**/*.toml")), "nothing shipped may be written into the user's folder"


@pytest.mark.slow
def test_public_api_resolves_every_name_without_importing_torch():
    """Every public name is resolved (each lazy import really runs) in a fresh interpreter, and only then
    is torch looked for: WHY fresh: in this process torch may already be imported by other tests."""
    code = ("import json, sys, rdbench\n"
            "resolved = {n: getattr(rdbench, n) for n in rdbench.__all__}\n"
            "print(json.dumps({'names': len(resolved), 'none': [n for n, v in resolved.items() if v is None],\n"
            "                  'torch': 'torch' in sys.modules}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["names"] > 20 and outcome["none"] == []
    assert outcome["torch"] is False, "resolving the public names imported torch"
