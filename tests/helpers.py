"""Helpers shared by the tests: the ``rdbench`` command line, the real data in ../shared, stores.

Imported as ``from helpers import ...``: pytest puts this folder (it has no ``__init__.py``) on
``sys.path`` before it loads conftest.py, so that works under ``pytest`` and ``python -m pytest``
alike (``tests.…`` works only under the latter, which also puts the current folder on the path).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def rdbench_argv(*args: str) -> list[str]:
    """The argument list that runs ``rdbench ARGS`` with this interpreter (for ``subprocess.Popen``)."""
    return [sys.executable, "-m", "rdbench", *map(str, args)]


@dataclass
class CliResult:
    """What one ``rdbench`` invocation did; ``exception`` is set only in process, when a command raised."""

    returncode: int
    stdout: str
    stderr: str
    exception: BaseException | None = None


def rdbench(*args: object, env: dict[str, str] | None = None, check: bool = False, in_process: bool = False,
            timeout: float = 600, **kwargs) -> CliResult:
    """Run ``rdbench ARGS`` and return its exit status, stdout and stderr.

    By default a real ``python -m rdbench`` subprocess (``env``: its whole environment, default this
    process's; other keyword arguments such as ``cwd`` or ``preexec_fn`` go to ``subprocess.run``).
    ``in_process=True`` invokes the click group in this process instead (fast; an exception a command
    raises, e.g. an ``RdbenchError`` with its hint, is kept in ``exception`` rather than printed).
    ``check=True`` fails the test unless the command exited 0.
    """
    argv = [str(a) for a in args]
    if in_process:
        from click.testing import CliRunner

        from rdbench.cli.main import cli

        if kwargs:
            raise TypeError(f"in-process invocation takes no {', '.join(kwargs)}")
        overrides = None
        if env is not None:  # CliRunner takes changes to os.environ: None removes a variable
            overrides = {**{k: None for k in os.environ if k not in env}, **env}
        ran = CliRunner().invoke(cli, argv, env=overrides)
        exception = ran.exception if not isinstance(ran.exception, SystemExit) else None
        result = CliResult(ran.exit_code, ran.stdout, ran.stderr, exception)
    else:
        proc = subprocess.run(rdbench_argv(*argv), capture_output=True, text=True, env=env, timeout=timeout, **kwargs)
        result = CliResult(proc.returncode, proc.stdout, proc.stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"rdbench {' '.join(argv)} exited {result.returncode}"
                             f"{f' raising {result.exception!r}' if result.exception else ''}:\n"
                             f"{result.stderr[-3000:]}")
    return result


def venv_with_this_environment(path: Path) -> Path:
    """Make a virtual environment at ``path`` that imports what this interpreter imports from its
    site-packages (and nothing of this checkout), and return its ``python``.

    WHY not ``python -m venv --system-site-packages``: that venv is built on the *base*
    interpreter, so when the tests run inside a virtualenv (as most users run them) it lacks
    everything that virtualenv holds (Pillow, numpy, ...), and a test of it fails for a reason
    that has nothing to do with rdbench. Here a ``.pth`` file hands the new environment this
    interpreter's site-packages folders through :func:`site.addsitedir` (their own ``.pth`` files
    included), after the environment's own site-packages, so whatever is installed into the new
    environment comes first. The environment has no pip; install with
    ``python -m pip --python NEW_PYTHON install ...``.
    """
    import site
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(path)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    outer = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    lines = "; ".join(f"site.addsitedir({folder!r})" for folder in outer if Path(folder).is_dir())
    Path(own, "_outer_environment.pth").write_text(f"import site; {lines}\n")
    return python


def newer_schema_db(path: Path) -> Path:
    """A real results database whose schema version is beyond what this rdbench knows."""
    import sqlite3

    from rdbench.store.sqlite import Store

    with Store(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    return path


def kodak_crops(folder: Path, count: int, box: tuple[int, int, int, int] = (0, 0, 176, 176)) -> Path:
    """Save the ``box`` crop of the first ``count`` real Kodak images into ``folder`` (skipping the
    test when the shared Kodak set is absent): small real images for quick measured runs."""
    kodak = SHARED / "datasets" / "kodak"
    if not kodak.is_dir():
        pytest.skip(f"{kodak} is absent: the real Kodak images are needed")
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(kodak.glob("*.png"))[:count]:
        Image.open(path).crop(box).save(folder / path.name)
    return folder


def build_store(root: Path, size: tuple[int, int] = (176, 176)) -> Path:
    """Run `rdbench run --codec jpeg,webp` on crops of the first three Kodak images; return the DB path."""
    crops = kodak_crops(root / "crops", 3, (0, 0, *size))
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--quality", "20,40,60,80", "--db", db,
            in_process=True, check=True)
    return db


def copy_database(source: Path, target: Path) -> str:
    """Copy a results database into the file ``target`` (in a folder of its own) and return the name of its
    one dataset.

    WHY SQLite's backup rather than a file copy: what is still in the source's -wal is copied too, and
    the copy is one file (no -wal or -shm beside it), still a WAL-mode database as rdbench writes it.
    """
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        (dataset,) = {row[0] for row in dst.execute("SELECT DISTINCT dataset FROM records")}
    src.close()
    dst.close()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    with open(target, "rb") as handle:
        assert handle.read(20)[18:20] == b"\x02\x02"  # WAL mode, as rdbench writes it
    return dataset


def stored_metric_points(db: Path, codec: str, metric: str) -> dict[str, list[tuple[float, float]]]:
    """image -> [(bpp, value)] of a plug-in or shipped metric's stored values in quality order, read with
    plain SQL (the independent path the BD checks compare rdbench's tables with)."""
    from collections import defaultdict

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT r.image, r.bpp, v.value FROM records r JOIN metric_values v ON v.record_id = r.id "
                            "WHERE r.codec = ? AND v.metric = ? ORDER BY r.image, CAST(r.quality AS REAL)",
                            (codec, metric)).fetchall()
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for image, bpp, value in rows:
        found[image].append((bpp, value))
    return dict(found)


def compile_latex(table: str, folder: Path) -> str:
    """pdflatex's log of a plain article that ``\\input``s ``table`` (booktabs loaded), written in ``folder``;
    the test fails with the log's end when it does not compile, and skips, saying what to install, where
    there is no pdflatex (``.ci/run`` installs Debian's texlive-latex-base and texlive-latex-recommended)."""
    import shutil

    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("no pdflatex (apt-get install texlive-latex-base texlive-latex-recommended, as .ci/run does)")
    (folder / "table.tex").write_text(table, encoding="utf-8")
    (folder / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                    "\\input{table.tex}\n\\end{document}\n", encoding="utf-8")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (folder / "doc.pdf").stat().st_size > 1000
    assert "Undefined control sequence" not in done.stdout and "Missing $" not in done.stdout
    return done.stdout
