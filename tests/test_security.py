"""Security guarantees: no code from checkpoints, no shell for tools, no writes outside rdbench's places.

Downloads (SHA-256 before use, archive members that escape or are links refused) are proven in
tests/test_datasets.py (test_corrupted_download_is_deleted_and_reported,
test_archive_that_escapes_its_target_is_refused) and not repeated here.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fault_codecs import make_images
from helpers import rdbench

from rdbench.codecs.external import process as external
from rdbench.codecs.learned import checkpoints

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "rdbench"


class _RunsCode:
    """Pickles to "call exec(...)": what a hostile checkpoint does when loaded without weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.slow
def test_checkpoint_that_runs_code_is_refused_not_executed(tmp_path: Path) -> None:
    from rdbench.errors import RdbenchError

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _RunsCode(marker)}, path)

    # Control, in a throw-away process: an unguarded load really runs the payload.
    control = subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(path)!r}, weights_only=False)"],
                             capture_output=True, text=True, cwd=Path(__file__).parent, timeout=120)
    assert marker.read_text() == "pwned", control.stderr[-2000:]
    marker.unlink()

    with pytest.raises(RdbenchError, match="refused to load"):
        checkpoints.read_checkpoint(path)
    assert not marker.exists()


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            yield node, owner, name


def test_no_shell_and_no_unguarded_unpickling_anywhere_in_rdbench() -> None:
    """Static proof over every module: no shell=True, os.system/os.popen, or torch.load without weights_only=True."""
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node, owner, name in _calls(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            keywords = {k.arg: k.value for k in node.keywords}
            shell = keywords.get("shell")
            if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
                offences.append(f"{where}: shell=")
            if owner == "os" and name in ("system", "popen") or name in ("getoutput", "getstatusoutput"):
                offences.append(f"{where}: {owner}.{name}")
            if owner == "torch" and name == "load":
                weights = keywords.get("weights_only")
                if not (isinstance(weights, ast.Constant) and weights.value is True):
                    offences.append(f"{where}: torch.load without weights_only=True")
            if owner == "pickle" and name in ("load", "loads"):
                offences.append(f"{where}: pickle.{name}")
    assert not offences, offences


def test_tool_arguments_never_reach_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    hostile = f"image; touch {marker} $(touch {marker}) `touch {marker}`.png"
    output = external.run_tool(["/bin/echo", hostile], timeout_s=30, cwd=tmp_path)
    assert output.strip() == hostile  # one argument, passed byte for byte
    assert not marker.exists()


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its content hash (what 'nothing changed here' means)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.slow
def test_a_run_writes_only_to_its_results_path_and_temp_dir(tmp_path: Path) -> None:
    home, cwd, tmp, data, results = (tmp_path / n for n in ("home", "cwd", "tmp", "data", "out"))
    for folder in (home, cwd, tmp, data):
        folder.mkdir()
    (home / ".config").mkdir()
    (home / ".config" / "keep.txt").write_text("user file")
    (cwd / "notes.txt").write_text("user file")
    images = make_images(data / "mine")
    env = dict(os.environ, HOME=str(home), TMPDIR=str(tmp), RDBENCH_DATA=str(data), OMP_NUM_THREADS="1",
               XDG_CACHE_HOME=str(home / ".cache"), PYTHONDONTWRITEBYTECODE="1")
    before = {name: _tree(folder) for name, folder in (("home", home), ("cwd", cwd), ("data", data))}

    db = results / "r.sqlite"
    for extra in ([], ["--jobs", "2", "--timeout", "60"]):  # in-process, then supervised workers
        result = rdbench("run", "--codec", "jpeg,webp", "--dataset", images, "--quality", "50", "--db", db, "--force",
                         *extra, cwd=cwd, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        after = {name: _tree(folder) for name, folder in (("home", home), ("cwd", cwd), ("data", data))}
        assert after == before
        assert sorted(p.name for p in results.iterdir()) <= ["r.sqlite", "r.sqlite-shm", "r.sqlite-wal"]
        assert list(tmp.iterdir()) == []  # temporary files are cleaned up, too
