"""The promises the repository itself makes: set-up commands that CI really runs, and a layout
that cannot shadow Python's standard library."""

from __future__ import annotations

import importlib.machinery
import re
import subprocess
import sys
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


def test_no_top_level_codecs_module_shadows_the_standard_library() -> None:
    """Codec configurations live in ``rdbench/codecs/configs``: nothing named ``codecs`` in the
    repository root (module, package, or a plain folder, which imports as a namespace package)
    may shadow the standard library's ``codecs`` when the root is on ``sys.path``."""
    spec = importlib.machinery.PathFinder.find_spec("codecs", [str(REPO)])
    assert spec is None, f"importable 'codecs' in the repository root: {spec.origin or spec.submodule_search_locations}"
    # and from the root, as `python -m pytest`, notebooks and scripts run, `import codecs` is the stdlib's
    # (the interpreter loads `codecs` at start-up, so only the find_spec check above sees a shadow early)
    code = "import codecs, sysconfig; print(codecs.__file__); print(sysconfig.get_paths()['stdlib'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    module, stdlib = result.stdout.splitlines()
    assert Path(module).parent == Path(stdlib), module
