"""A real JPEG codec (imagecodecs) that misbehaves on purpose, for the fault and cluster tests.

Registered through a TOML file (``adapter = "fault_codecs:FaultyJpeg"``) in a folder on
``RDBENCH_CODECS_PATH``, with this folder on ``PYTHONPATH``, exactly as a user's own adapter
would be. What it does wrong is chosen by ``[params]``, keyed on the image width so a test
picks the one image that misbehaves:

* ``fail_width``: raise ValueError;
* ``hang_width``: sleep for an hour (a hung codec);
* ``oom_width``: allocate 1 PiB (numpy raises a real MemoryError);
* ``torch_oom_width``: allocate 1 PiB with torch on the run's ``--device`` (a real torch CPU
  allocator failure, or a real ``torch.cuda.OutOfMemoryError``);
* ``sleep_s``: sleep this long in every encode (to kill a run mid-way);
* ``kill_once_marker``: the first encode anywhere that finds no file at this path creates it,
  then SIGKILLs its own process (a worker lost mid-run).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from rdbench.codecs.base import Codec


class FaultyJpeg(Codec):
    def encode(self, image: np.ndarray, quality) -> bytes:
        import imagecodecs

        params, width = self.config.params, image.shape[1]
        if params.get("sleep_s"):
            time.sleep(float(params["sleep_s"]))
        if width == params.get("fail_width"):
            raise ValueError(f"this codec refuses images {width} px wide")
        if width == params.get("hang_width"):
            time.sleep(3600)
        if width == params.get("oom_width"):
            np.ones(2**50, dtype=np.uint8)
        if width == params.get("torch_oom_width"):  # on the run's device: CPU allocator or CUDA OOM
            import torch

            torch.ones(2**50, dtype=torch.uint8, device=self.context.device)
        marker = params.get("kill_once_marker")
        if marker:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return bytes(imagecodecs.jpeg8_encode(image, level=int(quality)))

    def decode(self, data: bytes, quality) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg8_decode(data)

    def library(self) -> tuple[str, str]:
        import imagecodecs

        return ("imagecodecs", imagecodecs.__version__)


class GpuFlaggedJpeg(FaultyJpeg):
    """Declares itself a GPU codec (like the learned ones) while computing on the CPU: it proves
    where jobs are routed without needing a GPU."""

    wants_gpu = True


class WeightedJpeg(Codec):
    """A plain :class:`Codec` (not a LearnedCodec) whose "weights" are a file named in ``[params]``:
    the file holds a number added to the JPEG quality. It declares ``weight_params``, so the file's
    content, not its path, is the records' weights identity."""

    weight_params = ("weights",)

    def encode(self, image: np.ndarray, quality) -> bytes:
        import imagecodecs

        offset = int(self.param_path(self.config, "weights").read_text())
        return bytes(imagecodecs.jpeg8_encode(image, level=min(100, int(quality) + offset)))

    def decode(self, data: bytes, quality) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg8_decode(data)


def write_codec(folder: Path, name: str, qualities=(50,), adapter: str = "FaultyJpeg", **params) -> Path:
    """Write ``folder/name.toml`` declaring a FaultyJpeg (or ``adapter``) variant with ``params``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f'name = "{name}"', f'adapter = "fault_codecs:{adapter}"',
             f"qualities = [{', '.join(str(q) for q in qualities)}]", "[params]"]
    for key, value in params.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_images(folder: Path, widths=(40, 41, 42, 43), height: int = 32, seed: int = 0) -> Path:
    """Small deterministic RGB PNGs, one per width (the width picks which one misbehaves)."""
    from rdbench.data.images import save_png

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for width in widths:
        yy, xx = np.mgrid[0:height, 0:width]
        smooth = np.stack([xx * 5, yy * 7, (xx + yy) * 3], axis=2) % 256
        noisy = np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)
        save_png(noisy, folder / f"w{width}.png")
    return folder
