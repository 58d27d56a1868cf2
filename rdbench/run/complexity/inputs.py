"""The image a complexity point is measured on: synthetic, or a dataset image resized.

Complexity is measured at sizes no dataset ships (a sweep up to 4096 px), so the input is
either generated at the size or a real image resized to it. A size is a square side or a
(width, height) pair: published decoder complexities (DeepMind C3's table, the MLIC papers) are
given at Kodak's 768x512, and for models whose attention spans the latent the per-pixel cost
depends on the shape, not only on the pixel count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: A square side in pixels, or (width, height).
Size = int | tuple[int, int]


def dimensions(size: Size) -> tuple[int, int]:
    """(height, width) of ``size``."""
    if isinstance(size, tuple):
        width, height = size
        return height, width
    return size, size


def synthetic_image(size: Size, seed: int = 0) -> np.ndarray:
    """A deterministic natural-looking (smooth + texture) test image of ``size``.

    Neither flat (trivial for every codec) nor white noise (incompressible): a few random
    low-frequency waves per channel plus mild noise. The waves are laid out on the longer side,
    so a square image is the same as before non-square sizes existed.
    """
    height, width = dimensions(size)
    side = max(height, width)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) / side
    channels = []
    for _ in range(3):
        wave = np.zeros((height, width))
        for _ in range(6):
            fx, fy, phase = rng.uniform(0.5, 8.0), rng.uniform(0.5, 8.0), rng.uniform(0, 2 * np.pi)
            wave += np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        channels.append(wave / 6.0)
    image = 127.5 + 90.0 * np.stack(channels, axis=-1) + rng.normal(0, 6.0, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def resized_image(path: str | Path, size: Size) -> np.ndarray:
    """The largest centred crop of an image file with ``size``'s aspect ratio, resized (Lanczos)
    to ``size``."""
    from PIL import Image

    from rdbench.data.images import load_image

    height, width = dimensions(size)
    array = load_image(path)
    h, w = array.shape[:2]
    crop_h, crop_w = (h, round(h * width / height)) if w * height >= h * width else (round(w * height / width), w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = Image.fromarray(array[top:top + crop_h, left:left + crop_w])
    return np.asarray(crop.resize((width, height), Image.Resampling.LANCZOS)).copy()
