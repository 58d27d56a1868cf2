"""Facts about where a result was measured: versions, git commit, CPU and GPU names."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

from rdbench import __version__


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """Commit of the rdbench checkout in use (with '+dirty' when it has local changes), if any."""
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name(device: str) -> str | None:
    """The GPU's name for a record's ``device`` (``cuda``, ``cuda:1``, or ``ENCODE-to-DECODE``
    when it decoded elsewhere: the first CUDA device of the two); None without one."""
    from rdbench.codecs.base import CROSS_DEVICE

    device = next((d for d in device.split(CROSS_DEVICE) if d.startswith("cuda")), "")
    if not device:
        return None
    try:
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    except Exception:  # no CUDA build, no driver: recorded as unknown rather than failing the run
        return None


def rdbench_version() -> str:
    return __version__
