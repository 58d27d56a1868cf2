"""Build a small real results store for analysis tests: JPEG and WebP on three Kodak crops."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rdbench.cli.main import cli
from tests.conftest import SHARED

QUALITIES = "20,40,60,80"


def build_store(root: Path, size: tuple[int, int] = (176, 176)) -> Path:
    """Run `rdbench run --codec jpeg,webp` on crops of the first three Kodak images; return the DB path."""
    kodak = SHARED / "datasets" / "kodak"
    if not kodak.is_dir():
        pytest.skip(f"{kodak} is absent: the real Kodak images are needed to build a measured store")
    from PIL import Image

    crops = root / "crops"
    crops.mkdir(parents=True, exist_ok=True)
    for path in sorted(kodak.glob("*.png"))[:3]:
        Image.open(path).crop((0, 0, *size)).save(crops / path.name)
    db = root / "rd.sqlite"
    result = CliRunner().invoke(cli, ["run", "--codec", "jpeg,webp", "--dataset", str(crops),
                                      "--quality", QUALITIES, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db
