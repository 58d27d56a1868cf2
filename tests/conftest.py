"""Shared fixtures: the real data in ../shared (skipped with a reason when absent), and one measured store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import SHARED, build_store, copy_database


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


@dataclass(frozen=True)
class MeasuredStore:
    """A real store of jpeg and webp on three Kodak crops at 20, 40, 60, 80 (:func:`helpers.build_store`).

    ``db`` is this module's own copy; ``crops`` the folder that was measured (shared: read it, never
    write to it); ``dataset`` the name the store keeps the crops under."""

    db: Path
    crops: Path
    dataset: str


@pytest.fixture(scope="session")
def _measured_store_original(tmp_path_factory) -> Path:
    """Built once per session: WHY: eight modules read the same measured store, and building it in each
    repeated the same run eight times."""
    return build_store(tmp_path_factory.mktemp("measured_store"))


@pytest.fixture(scope="module")
def measured_store(_measured_store_original: Path, tmp_path_factory) -> MeasuredStore:
    """A copy of the session's measured store for this module: WHY a copy per module: some modules
    add records to it, and each module must see the store as :func:`helpers.build_store` left it,
    whatever ran before (a copy of a few hundred kilobytes costs milliseconds)."""
    db = tmp_path_factory.mktemp("measured_copy") / "rd.sqlite"
    dataset = copy_database(_measured_store_original, db)
    return MeasuredStore(db, _measured_store_original.parent / "crops", dataset)
