"""Loading images as 8-bit RGB, the only pixel format rdbench benchmarks.

Conversions are applied only where they lose nothing, and each is documented here:

* grayscale (``L``) -> RGB by copying the channel to R, G and B;
* palette (``P``) without transparency -> RGB through the palette;
* RGBA / LA whose alpha is fully opaque -> RGB by dropping alpha.

Everything else is refused with a one-line :class:`~rdbench.errors.ImageError` that says what
the file is and what to do: images with real transparency, more than 8 bits per sample (16-bit
PNG, TIFF and PPM/PGM, whatever mode Pillow would give them) or float samples, CMYK,
truncated or corrupt files, empty files, and images above :data:`MAX_PIXELS`.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import numpy as np

from rdbench.errors import ImageError

#: Largest image accepted (pixels). Bigger declared sizes are refused before decoding so a
#: hostile header cannot make rdbench allocate tens of gigabytes.
MAX_PIXELS = 64 * 1024 * 1024

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".pnm", ".bmp", ".tif", ".tiff", ".webp")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _png_header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, bit depth) from a PNG's IHDR chunk, read before Pillow decodes anything.

    Why: Pillow silently reduces 16-bit RGB to 8 bits, and the declared size must be checked
    before any pixel memory is allocated. None when the file does not start with a
    well-formed IHDR (Pillow then reports the corruption).
    """
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or head[24] not in (1, 2, 4, 8, 16):
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height, head[24]


def _pnm_maxval(path: Path) -> int | None:
    """The maxval of a greymap or pixmap (P2, P3, P5, P6) header, read before Pillow decodes.

    Why: Pillow scales a PPM whose maxval is above 255 down to 8 bits without a word (RGB mode,
    like 8-bit data), so the depth is only visible in the header. None for other files or a
    malformed header (Pillow then reports the corruption).
    """
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if head[:2] not in (b"P2", b"P3", b"P5", b"P6"):
        return None
    text = re.sub(rb"#[^\n\r]*", b" ", head[2:])  # comments may sit between the header's numbers
    tokens = text.split(maxsplit=3)
    if len(tokens) < 3 or not tokens[2].isdigit():
        return None
    return int(tokens[2])


def _bits_per_sample(path: Path, img, png_depth: int | None) -> tuple[int, str] | None:
    """(bits per sample, format) as the file declares it, where the format says; None where unknown.

    Why from the header and not Pillow's mode: Pillow opens 16-bit RGB TIFF and 16-bit PPM as
    8-bit ``RGB`` (keeping the high byte), so the mode alone would let them be measured as
    other, 8-bit images.
    """
    if png_depth is not None:
        return png_depth, "PNG"
    if img.format == "TIFF":
        declared = img.tag_v2.get(258)  # BitsPerSample: one value per sample, or one for all
        if declared is not None:
            return max(declared) if isinstance(declared, tuple) else int(declared), "TIFF"
    if img.format == "PPM":
        maxval = _pnm_maxval(path)
        if maxval is not None:
            return maxval.bit_length(), f"PPM/PGM (maxval {maxval})"
    return None


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{path}: declared size {width}x{height} exceeds the {MAX_PIXELS // 2**20} "
            "Mpixel limit; crop or resize it first"
        )


def load_image(path: str | Path) -> np.ndarray:
    """Read ``path`` as a contiguous ``uint8`` array of shape (H, W, 3).

    Raises :class:`ImageError` (one line, naming the file) for anything that is not
    losslessly representable as 8-bit RGB.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror})") from exc
    if size == 0:
        raise ImageError(f"{path}: empty file (0 bytes); re-download or remove it")
    header = _png_header(path)
    if header is not None:
        _check_size(path, header[0], header[1])
    try:
        with Image.open(path) as img:
            _check_size(path, *img.size)
            declared = _bits_per_sample(path, img, header[2] if header else None)
            if declared is not None and declared[0] > 8:
                raise ImageError(
                    f"{path}: {declared[0]}-bit {declared[1]}; rdbench measures 8-bit RGB, convert it "
                    "explicitly (e.g. with a dithering-free rounding) before benchmarking"
                )
            mode = img.mode
            img.load()
            array = _to_rgb(path, img, mode)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise ImageError(f"{path}: corrupt or truncated image ({exc})") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own guard, hit first for some formats
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(pixels.group(1)) / 2**20:.0f} Mpixels" if pixels else "too many pixels"
        raise ImageError(f"{path}: declared size ({declared}) exceeds the {MAX_PIXELS // 2**20} "
                         "Mpixel limit; crop or resize it first") from exc
    return np.ascontiguousarray(array)


def _to_rgb(path: Path, img, mode: str) -> np.ndarray:
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("L", "1"):
        gray = np.asarray(img.convert("L"), dtype=np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        if "transparency" in img.info:
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
            return _drop_opaque_alpha(path, rgba)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        return _drop_opaque_alpha(path, rgba)
    if mode == "CMYK":
        raise ImageError(
            f"{path}: CMYK image; converting to RGB needs a colour profile and is not "
            "lossless, convert it to RGB yourself"
        )
    if mode.startswith(("I", "F")) or ";16" in mode:
        raise ImageError(
            f"{path}: {mode} samples (16-bit or float); rdbench measures 8-bit RGB, "
            "convert it explicitly first"
        )
    raise ImageError(f"{path}: unsupported pixel mode {mode!r}; convert it to 8-bit RGB")


def _drop_opaque_alpha(path: Path, rgba: np.ndarray) -> np.ndarray:
    if rgba[:, :, 3].min() != 255:
        raise ImageError(
            f"{path}: has transparency (alpha < 255); composite it onto a background first"
        )
    return rgba[:, :, :3]


def check_rgb8(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate a codec's output: (H, W, 3) uint8. Raises ValueError with the actual shape."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{what} is {type(array).__name__}, expected a numpy array")
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{what} has shape {array.shape} dtype {array.dtype}, expected (H, W, 3) uint8")
    return array


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 array as a PNG."""
    from PIL import Image

    Image.fromarray(check_rgb8(array)).save(path, format="PNG")
