"""The promises the repository itself makes: set-up commands that CI really runs. (That nothing in the
repository root shadows the standard library is tests/test_architecture.py's.)"""

from __future__ import annotations

import re
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

