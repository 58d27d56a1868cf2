"""Shared fixtures: the real data in ../shared (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the real data in ../shared is needed for this test")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    """The real 24-image Kodak set."""
    return _need(SHARED / "datasets" / "kodak")


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """One Tecnick and one CLIC image."""
    return _need(SHARED / "datasets" / "samples")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Published RD curves, CompressAI result files and the MLIC++ state_dict key lists."""
    return _need(SHARED / "reference")


@pytest.fixture()
def kodak_crop(kodak_dir: Path):
    """A small real crop (kodim23, 128x192) for fast learned-codec tests."""
    from rdbench.data.images import load_image

    return load_image(kodak_dir / "kodim23.png")[200:328, 300:492].copy()
