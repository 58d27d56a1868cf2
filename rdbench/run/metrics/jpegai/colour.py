"""An 8-bit RGB image as the JPEG AI quality framework sees it: 10-bit RGB and 10-bit Y'CbCr BT.709.

Why this module: every JPEG AI metric (:mod:`.jpegai`) starts from the same conversion, and the
framework converts once per image; :func:`planes` converts once per image too, and a small cache
keyed by the pixels lets the metrics of one (original, reconstruction) pair, each called as a
plug-in with the uint8 arrays, share it.

The conversion is the framework's (``DataClass.load_image`` of ``src/codec/metrics/metrics.py`` in
the JPEG AI reference software) for 8-bit PNG input and its defaults (10 internal bits, BT.709,
full range), every step in float32 as it runs it in torch, so the codes are the same bit for bit:

1. RGB to [0, 1] and rounded to 10 bits: ``round(x / 255 * 1023) / 1023``;
2. Y' = 0.2126 R + 0.7152 G + 0.0722 B, Cb = (B - Y') / 1.8556 + 0.5, Cr = (R - Y') / 1.5748 + 0.5,
   clamped to [0, 1] and rounded to 10 bits (ties to even, as ``torch.round``).

Values are kept as 10-bit codes (0..1023, uint16); a metric builds the float input it needs with
:func:`unit` (the float32 code / 1023 the framework holds).

A reconstruction that is a torch tensor on a device (a learned codec decoding on a GPU) is
converted there (:func:`convert_tensor`, the same float32 steps with torch, so the same codes);
its planes are int32 tensors on that device.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

BITS = 10
#: the largest 10-bit code: the PSNR peak and the divisor of the framework's [0, 1] values
PEAK = (1 << BITS) - 1
_F = np.float32
#: BT.709 luma weights and the chroma divisors, as float32 (torch multiplies float32 tensors by them so)
_KR, _KG, _KB = _F(0.2126), _F(0.7152), _F(0.0722)
_DB, _DR = _F(1.8556), _F(1.5748)
#: 8-bit value -> float32 10-bit-rounded RGB in [0, 1]: ``round(x / 255 * 1023) / 1023`` in float32
_RGB10 = (np.round(np.arange(256, dtype=_F) / _F(255) * _F(PEAK)) / _F(PEAK)).astype(_F)
#: 10-bit code -> the float32 value code / 1023
_UNIT = (np.arange(PEAK + 1, dtype=_F) / _F(PEAK)).astype(_F)


@dataclass(frozen=True)
class Planes:
    """One image's 10-bit codes: ``rgb`` (H, W, 3) and the Y', Cb, Cr planes (H, W), all uint16
    numpy arrays, or int32 torch tensors on the device of a tensor image."""

    rgb: Any
    y: Any
    u: Any
    v: Any

    def plane(self, name: str) -> Any:
        return {"y": self.y, "u": self.u, "v": self.v}[name]


def convert(image: np.ndarray) -> Planes:
    """The 10-bit RGB and Y'CbCr codes of an (H, W, 3) uint8 RGB image (no cache)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    rgb = _RGB10[image]  # float32 (H, W, 3)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = _KR * r
    y += _KG * g
    y += _KB * b
    u = (b - y) / _DB + _F(0.5)
    v = (r - y) / _DR + _F(0.5)
    codes = [_code(p) for p in (y, u, v)]
    rgb_codes = np.round(rgb * _F(PEAK)).astype(np.uint16)
    return Planes(rgb=rgb_codes, y=codes[0], u=codes[1], v=codes[2])


def _code(plane: np.ndarray) -> np.ndarray:
    """clamp to [0, 1], then ``round(x * 1023)`` in float32 (ties to even): the 10-bit code."""
    np.clip(plane, _F(0), _F(1), out=plane)
    plane *= _F(PEAK)
    return np.rint(plane).astype(np.uint16)


def convert_tensor(image: Any) -> Planes:
    """:func:`convert` of an (H, W, 3) uint8 torch tensor, on its device: the same float32 steps
    (products and sums in the same order, true division by a tensor rather than by a scalar,
    which torch may turn into a multiplication by its reciprocal, rounding ties to even)."""
    import torch

    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {tuple(image.shape)}")
    device = image.device
    rgb = torch.from_numpy(_RGB10).to(device)[image.long()]
    r, g, b = rgb.unbind(-1)
    y = r * float(_KR)
    y += g * float(_KG)
    y += b * float(_KB)
    db, dr = (torch.tensor(float(d), dtype=torch.float32, device=device) for d in (_DB, _DR))
    u = (b - y) / db + 0.5
    v = (r - y) / dr + 0.5
    codes = [torch.round(p.clamp_(0, 1) * float(PEAK)).to(torch.int32) for p in (y, u, v)]
    return Planes(rgb=torch.round(rgb * float(PEAK)).to(torch.int32), y=codes[0], u=codes[1], v=codes[2])


def unit(codes: Any) -> Any:
    """float32 ``code / 1023``: the [0, 1] values the framework computes its metrics on (a numpy
    array, or a tensor on the codes' device)."""
    if isinstance(codes, np.ndarray):
        return _UNIT[codes]
    import torch

    return torch.from_numpy(_UNIT).to(codes.device)[codes.long()]


class _Cache:
    """The last few images' planes, keyed by a hash of their pixels: a pair's metrics, called one
    after another with the same arrays, convert each image once; a changed array is a new key."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._items: OrderedDict[tuple, Planes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image: np.ndarray) -> Planes:
        key = (image.shape, hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest())
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        found = convert(image)
        with self._lock:
            self._items[key] = found
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class _TensorCache:
    """The last few tensor images' planes: keyed by the tensor object (held, so its id is not
    reused) and its version counter (an in-place change is a new key); no pixels are read."""

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._items: list[tuple[Any, int, Planes]] = []
        self._lock = threading.Lock()

    def get(self, image: Any) -> Planes:
        with self._lock:
            for held, version, found in self._items:
                if held is image and version == image._version:
                    return found
        found = convert_tensor(image)
        with self._lock:
            self._items = [*self._items, (image, image._version, found)][-self._size:]
        return found

    def clear(self) -> None:
        with self._lock:
            self._items = []


_CACHE = _Cache()
_TENSOR_CACHE = _TensorCache()


def planes(image: Any) -> Planes:
    """:func:`convert` (or :func:`convert_tensor` for a torch tensor), remembered for the last few
    images (a pair's metrics convert once)."""
    if isinstance(image, np.ndarray):
        return _CACHE.get(image)
    return _TENSOR_CACHE.get(image)


def clear_cache() -> None:
    """Forget the remembered conversions (benchmarks time a conversion this way)."""
    _CACHE.clear()
    _TENSOR_CACHE.clear()
