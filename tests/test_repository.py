"""The promises the repository itself makes: set-up commands that CI really runs, the design card's
top level, and a layout that cannot shadow Python's standard library."""

from __future__ import annotations

import importlib.machinery
import re
import subprocess
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    """The one-line commands of the README's fenced bash blocks in the "Set-up" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    install, test = _readme_commands()
    assert "pytest" in test and "rdbench run" in install
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines, f".ci/run must contain the README's test command verbatim: {test}"


def test_the_top_level_is_the_design_cards_and_holds_the_one_copy_of_the_shipped_files() -> None:
    """``codecs/`` and ``datasets/`` are the only copies of the shipped TOML files in a checkout
    (the wheel copies them into the package: tests/test_packaging.py), rdbench reads them there,
    and ``results/`` keeps only its README in git."""
    from rdbench.codecs.registry import SHIPPED_CODECS_DIR
    from rdbench.data.datasets import SHIPPED_MANIFESTS_DIR

    for name in ("rdbench", "codecs", "datasets", "notebooks", "results", "tests", "pyproject.toml"):
        assert (REPO / name).exists(), f"the design card's top level has {name}"
    assert (SHIPPED_CODECS_DIR, SHIPPED_MANIFESTS_DIR) == (REPO / "codecs", REPO / "datasets")
    for folder in (REPO / "codecs", REPO / "datasets"):
        assert {path.suffix for path in folder.iterdir()} == {".toml"}, f"{folder.name}/ holds TOML files only"
    assert not (REPO / "rdbench" / "codecs" / "configs").exists() and not (REPO / "rdbench" / "data" / "manifests").exists()
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "results"], capture_output=True, text=True,
                             check=False)
    if tracked.returncode == 0:  # a git checkout (not an unpacked source archive)
        assert tracked.stdout.split() == ["results/README.md"]
        for output in ("results/rdbench.sqlite", "results/plots/kodak_psnr.png", "results/report.html"):
            ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", output], check=False)
            assert ignored.returncode == 0, f"{output} must be ignored by git"


def test_the_top_level_codecs_folder_does_not_shadow_the_standard_library() -> None:
    """``codecs/`` holds TOML files and no ``__init__.py``. With the root first on sys.path (as under
    ``python -m pytest``, in notebooks and scripts run from it) the path finder still resolves
    ``codecs`` to the standard library's module: a plain folder is only a namespace-package portion,
    which loses to a module of that name anywhere on the path. (The interpreter itself takes
    ``codecs`` frozen, before any path, so a child's ``import codecs`` would show nothing.)"""
    stdlib = sysconfig.get_paths()["stdlib"]
    spec = importlib.machinery.PathFinder.find_spec("codecs", [str(REPO), stdlib])
    assert spec is not None and Path(spec.origin) == Path(stdlib) / "codecs.py", spec


def test_no_tracked_file_holds_a_merge_conflict_marker() -> None:
    """A merge resolved by hand can leave its markers in a page nobody runs (it happened to the README);
    no tracked text file may hold a line that starts one."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    marker = re.compile(rb"^(<{7} |>{7} |={7}$)", re.M)
    found = []
    for name in filter(None, listed.split(b"\0")):
        path = REPO / name.decode()
        if path.is_file() and path.stat().st_size < 2_000_000:
            data = path.read_bytes()
            if b"\0" not in data[:8000] and marker.search(data):
                found.append(name.decode())
    assert not found, f"merge conflict markers in {found}"
