"""Checks of a run's options that must fail before anything is planned or stored.

Why up front: an option that cannot work (a device this machine does not have, a checkpoint for
a codec that reads none) used to be discovered image by image, each stored as a failed record
that the next run then skipped, or it was silently ignored. Either way the numbers printed
afterwards were not what the command asked for. Each check here raises a one-line
:class:`~rdbench.errors.UsageError` (exit 2) saying what to do instead.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence

from rdbench.codecs.base import (
    Codec,
    CodecConfig,
    CodecContext,
    format_quality,
    parse_quality,
)
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import UsageError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def check_timeout(timeout_s: float | None) -> None:
    """``--timeout`` is a positive, finite number of seconds (None: no limit). NaN and infinity passed
    click's range check, and every job was then stored as failed ("cannot convert float NaN to
    integer") and skipped by the next run; no limit is asked for by leaving the option out."""
    if timeout_s is None:
        return
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not math.isfinite(timeout_s) \
            or timeout_s <= 0:
        raise UsageError(f"--timeout {timeout_s}: a job's time limit must be a positive, finite number of seconds",
                         hint="e.g. --timeout 600; leave --timeout out for no limit")


def check_retime(retime: bool, force: bool) -> None:
    """``--retime`` keeps the stored quality figures and ``--force`` replaces them: never both."""
    if retime and force:
        raise UsageError("--retime keeps the stored quality figures and --force replaces them: choose one")


def check_device(device: str, adapters: Sequence[type[Codec]]) -> None:
    """``--device`` names a device this machine has, and some selected codec runs on one.

    Codecs that do not use a device (``wants_gpu`` False) run on the CPU whatever is asked; a
    ``--device`` that no selected codec uses is refused rather than ignored.
    """
    if not _DEVICE.match(device):
        raise UsageError(f"unknown --device {device!r}: use cpu, cuda or cuda:N")
    if device == "cpu":
        return
    if not any(adapter.wants_gpu for adapter in adapters):
        raise UsageError(f"--device {device} is for learned codecs; the selected codecs run on the CPU "
                         "(drop --device)")
    try:
        import torch
    except ImportError as exc:
        raise UsageError(f"--device {device} needs PyTorch, which is not installed") from exc
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {device}: no CUDA device is visible on this machine "
                             "(torch.cuda.is_available() is False); use --device cpu")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= count:
            raise UsageError(f"--device {device}: this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: no Apple GPU is available here; use --device cpu")


def check_weight_options(configs: Sequence[CodecConfig], adapters: Sequence[type[Codec]],
                         context: CodecContext) -> list[str]:
    """``--checkpoint`` names one file for one codec that reads checkpoints; ``--checkpoint-dir``
    serves at least one. Returns notes for codecs of the run that ignore ``--checkpoint-dir``."""
    readers = [c.name for c, a in zip(configs, adapters) if a.reads_checkpoints(c)]
    others = [c.name for c, a in zip(configs, adapters) if not a.reads_checkpoints(c)]
    if context.checkpoint:
        if len(configs) != 1 or not readers:
            what = ", ".join(others) or ", ".join(readers)
            raise UsageError(f"--checkpoint is one file for one learned codec; {what} "
                             + ("reads no checkpoint" if others else "are several codecs")
                             + " (seeded '-random' configurations and classical codecs read none)")
    if context.checkpoint_dir:
        if not readers:
            raise UsageError(f"--checkpoint-dir: none of {', '.join(others)} reads checkpoints "
                             "(seeded '-random' configurations and classical codecs read none)")
        if others:
            return [f"--checkpoint-dir applies to {', '.join(readers)} only; {', '.join(others)} read no checkpoints"]
    return []


def for_qualities(config: CodecConfig, qualities: Sequence[str] | None) -> CodecConfig:
    """``config`` restricted to the qualities a run asks for, so availability checks (e.g. which
    checkpoints must exist) look at those qualities and not at the default sweep. The config hash
    does not depend on qualities."""
    if not qualities:
        return config
    return dataclasses.replace(config, qualities=tuple(parse_quality(q) for q in qualities))


def checkpoint_sweeps(configs: Sequence[CodecConfig], adapters: Sequence[type[Codec]], context: CodecContext,
                      qualities: QualityChoice) -> tuple[list[CodecConfig], list[str]]:
    """Without ``--quality``, each codec reading ``--checkpoint-dir`` codes every quality the
    folder holds a checkpoint for (:meth:`~rdbench.codecs.base.Codec.checkpoint_qualities`), not
    its class's default sweep: a folder of q1..q5 is what the user trained. Returns the
    configurations to run and one line per codec saying which qualities were found.

    A codec given qualities (``--quality``, global or its own) keeps them as they are (the
    planner reports each named quality without a file). A codec whose folder holds none keeps its
    sweep, and its availability check says what is missing.
    """
    if not context.checkpoint_dir:
        return list(configs), []
    chosen, notes = [], []
    for config, adapter in zip(configs, adapters):
        found = None if qualities.of(config.name) else adapter.checkpoint_qualities(config, context)
        if found:
            shown = ", ".join(format_quality(q) for q in found)
            notes.append(f"{config.name}: {context.checkpoint_dir} holds checkpoints for qualities {shown}; "
                         "running those (--quality chooses)")
            config = dataclasses.replace(config, qualities=found)
        chosen.append(config)
    return chosen, notes
