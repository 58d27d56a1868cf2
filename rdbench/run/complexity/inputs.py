"""The image a complexity point is measured on: synthetic, or a dataset image resized.

Complexity is measured at sizes no dataset ships (a sweep up to 4096 px), so the input is
either generated at the size or a real image resized to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_image(size: int, seed: int = 0) -> np.ndarray:
    """A deterministic natural-looking (smooth + texture) square test image.

    Neither flat (trivial for every codec) nor white noise (incompressible): a few random
    low-frequency waves per channel plus mild noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    channels = []
    for _ in range(3):
        wave = np.zeros((size, size))
        for _ in range(6):
            fx, fy, phase = rng.uniform(0.5, 8.0), rng.uniform(0.5, 8.0), rng.uniform(0, 2 * np.pi)
            wave += np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        channels.append(wave / 6.0)
    image = 127.5 + 90.0 * np.stack(channels, axis=-1) + rng.normal(0, 6.0, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def resized_image(path: str | Path, size: int) -> np.ndarray:
    """The centre square of an image file, resized (Lanczos) to ``size`` x ``size``."""
    from PIL import Image

    from rdbench.data.images import load_image

    array = load_image(path)
    h, w = array.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(array[top:top + side, left:left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS)).copy()
