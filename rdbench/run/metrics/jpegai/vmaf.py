"""VMAF: listed, never computed without libvmaf.

Why a module with no metric in it: JPEG AI measures VMAF with Netflix's ``vmaf`` 2.2.1 binary,
which its framework downloads at run time. This machine's Debian (bookworm) packages no libvmaf and
its ffmpeg has no ``libvmaf`` filter, and rdbench downloads no binaries; rather than a value from
another model, ``vmaf`` is declared and reported unavailable with this reason, as a codec without
its binary is.
"""

from __future__ import annotations

import shutil

import numpy as np

from rdbench.errors import RdbenchError

#: the executable a VMAF value would come from (``vmaf`` 2.2.1, as the framework runs it)
BINARY = "vmaf"


def unavailable_reason() -> str:
    """Why VMAF cannot be measured here (every machine, until a validated libvmaf measurement exists)."""
    found = shutil.which(BINARY)
    where = f"{BINARY} is at {found}, but" if found else f"no {BINARY} binary on PATH and"
    return (f"{where} rdbench has no validated VMAF measurement yet (libvmaf is not packaged for this "
            "Debian; JPEG AI's framework downloads Netflix's vmaf 2.2.1 binary at run time)")


def vmaf(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Refuses: there is no VMAF here (see :func:`unavailable_reason`)."""
    raise RdbenchError(f"metric 'vmaf' is unavailable: {unavailable_reason()}")
