"""``rdbench.complexity``: time, memory, FLOPs and decoder MACs per pixel of codecs against
resolution, from Python.

:func:`complexity` does what ``rdbench complexity`` does, option for option, and returns the points
as a DataFrame (one row per codec and size); the command is a thin wrapper over
:func:`measure_complexity`, which returns the points themselves for its tables, exponents and
plot::

    import rdbench
    points = rdbench.complexity("mlic-random,mlicpp-random", [256, 512, (768, 512)], flops_only=True)
    points.pivot(index="pixels", columns="codec", values="flops_per_pixel")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING

from rdbench.api.benchmark import check_count, existing_path, to_stderr
from rdbench.errors import UsageError
from rdbench.run.selection import Qualities, Selection, runnable, select_codecs
from rdbench.store.record import ComplexityPoint
from rdbench.store.sqlite import DEFAULT_DB, readable_or_none

if TYPE_CHECKING:
    import pandas as pd

    from rdbench.codecs.base import Codec, CodecConfig, CodecContext, Quality

#: Smallest side ``sizes`` accepts, in pixels.
MIN_SIDE = 16
#: What ``rdbench complexity --sizes`` measures unless told.
DEFAULT_SIZES = (256, 512, 768, 1024)

Size = int | tuple[int, int]


def parse_sizes(sizes: str | Iterable[int | str | tuple[int, int]]) -> list[Size]:
    """``--sizes``: square sides (``512``) and WIDTHxHEIGHT sizes (``768x512``), comma-separated
    or a list (a side, ``"768x512"`` or ``(768, 512)`` each), in pixel order without repeats."""
    if isinstance(sizes, str):
        tokens = [v.strip() for v in sizes.split(",") if v.strip()]
    else:
        tokens = [f"{s[0]}x{s[1]}" if isinstance(s, tuple) else str(s).strip() for s in sizes]
    found: list[Size] = []
    too_small: list[str] = []
    for token in tokens:
        parts = token.lower().split("x")
        if len(parts) > 2 or not all(part.isdigit() for part in parts):
            raise UsageError(f"--sizes takes square sides or WIDTHxHEIGHT in pixels, e.g. 512 or 768x512; "
                             f"got {token!r}")
        sides = [int(part) for part in parts]
        if min(sides) < MIN_SIDE:
            too_small.append(token)
            continue
        size = sides[0] if len(sides) == 1 or sides[0] == sides[1] else (sides[0], sides[1])
        if size not in found:
            found.append(size)
    if too_small:
        raise UsageError(f"--sizes {','.join(too_small)}: sides under {MIN_SIDE} px are too small to measure; drop "
                         f"{'it' if len(too_small) == 1 else 'them'}, e.g. --sizes 256,512")
    if not found:
        raise UsageError("--sizes names no size; give square sides or WIDTHxHEIGHT in pixels, e.g. --sizes 256,512")
    return sorted(found, key=lambda s: (s * s, s) if isinstance(s, int) else (s[0] * s[1], s[0]))


def measure_complexity(
    codecs: str | Sequence[str],
    sizes: str | Iterable[int | str | tuple[int, int]] = DEFAULT_SIZES,
    qualities: Qualities = None,
    *,
    dataset: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    repeat: int = 3,
    threads: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    flops_only: bool = False,
    forward_only: bool = False,
    in_process: bool = False,
    db: str | os.PathLike[str] = DEFAULT_DB,
    store: bool = True,
    data_root: str | os.PathLike[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> list[ComplexityPoint]:
    """The points of :func:`complexity`, as :class:`rdbench.store.record.ComplexityPoint` objects in
    the order measured (codec by codec, sizes ascending); :func:`complexity` documents the arguments."""
    from rdbench.codecs.base import CodecContext

    say = say or to_stderr
    check_count("repeat", repeat)
    if threads is not None:
        check_count("threads", threads)
    checkpoint = existing_path(checkpoint, "--checkpoint", folder=False)
    checkpoint_dir = existing_path(checkpoint_dir, "--checkpoint-dir", folder=True)
    size_list = parse_sizes(sizes)
    selection = _selection(codecs, qualities, device, checkpoint)
    image_path = _image_to_measure(dataset, db, data_root)
    context = CodecContext(device=device, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir, threads=threads)
    jobs = _jobs(selection, context, flops_only, say)
    return _measure(jobs, size_list, context, repeat=repeat, image_path=image_path, flops_only=flops_only,
                    forward_only=forward_only, in_process=in_process, db=db if store else None, say=say)


def _selection(codecs: str | Sequence[str], qualities: Qualities, device: str,
               checkpoint: str | None) -> Selection:
    """The named codecs with their checked qualities, before anything is measured or stored: at most one
    point per codec (a sweep of complexity is over sizes, not qualities), and a ``checkpoint`` only with
    the quality it is for."""
    if checkpoint and not qualities:
        raise UsageError("--checkpoint is one file for one quality: add --quality Q (or use --checkpoint-dir)")
    selection = select_codecs(codecs, qualities, device)  # each codec's valid range, before anything is stored
    for config in selection.configs:
        chosen = selection.qualities.of(config.name) or []
        if len(chosen) > 1:
            raise UsageError(f"--quality takes one point per codec, not {', '.join(chosen)} for {config.name}: "
                             "run one sweep per quality")
    return selection


def _image_to_measure(dataset: str | os.PathLike[str] | None, db: str | os.PathLike[str],
                      data_root: str | os.PathLike[str] | None) -> str | None:
    """The first image of ``dataset`` (resized to each size by the measurement), or None for the
    synthetic image; the store, if there is one, says what a dataset name means."""
    if not dataset:
        return None
    from rdbench.analysis.catalogue import Catalogue
    from rdbench.analysis.dataset_names import dataset_to_measure

    with readable_or_none(db) as stored:
        return str(dataset_to_measure(Catalogue(stored), os.fspath(dataset), data_root).images[0].path)


def _jobs(selection: Selection, context: CodecContext, flops_only: bool,
          say: Callable[[str], None]) -> list[tuple[CodecConfig, Quality]]:
    """(configuration, quality) of each codec that can run here: the quality named, else the first of its
    sweep. With ``flops_only`` a codec that is not a torch model is skipped (said through ``say``)."""
    from rdbench.codecs.base import parse_quality
    from rdbench.codecs.learned.base import LearnedCodec

    def not_a_model(config: CodecConfig, adapter: type[Codec]) -> str | None:
        if flops_only and not issubclass(adapter, LearnedCodec):
            return f"--flops-only counts the FLOPs of a torch model's forward, and {config.name} is not one"
        return None

    none_left = UsageError("--flops-only needs a learned codec (a torch model), e.g. --codec mlicpp-random") \
        if flops_only else None
    jobs = []
    for config in runnable(selection, context, say, refuse=not_a_model, none_left=none_left).configs:
        chosen = selection.qualities.of(config.name)
        q = parse_quality(chosen[0]) if chosen else (config.qualities[0] if config.qualities else None)
        if q is None:
            raise UsageError(f"{config.name} has no default quality; pass --quality")
        jobs.append((config, q))
    return jobs


def _measure(jobs: list[tuple[CodecConfig, Quality]], sizes: list[Size], context: CodecContext, *, repeat: int,
             image_path: str | None, flops_only: bool, forward_only: bool, in_process: bool,
             db: str | os.PathLike[str] | None, say: Callable[[str], None]) -> list[ComplexityPoint]:
    """Each job at each size, in a fresh worker per point unless ``in_process``; each point is stored
    in ``db`` (None: not stored) as soon as it is measured, and said through ``say``.

    WHY one by one: a large sweep takes hours, and an interrupted one keeps every point it finished.
    FLOPs-only points are stored too (status ok, times and memory None): `rdbench plot --complexity`
    draws them, and a stored point keeps its times."""
    from rdbench.run import complexity as measuring
    from rdbench.store.sqlite import Store

    measure = measuring.measure_point if in_process else measuring.measure_point_fresh
    points: list[ComplexityPoint] = []
    with Store(db) if db is not None else nullcontext() as into:
        for config, q in jobs:
            for size in sizes:
                point = measure(config, context, q, size, repeat, image_path, flops_only, forward_only)
                points.append(point)
                if into is not None:
                    into.add_complexity_points([point])
                say(f"{config.name} {point.width}x{point.height}: {progress_line(point)}")
    return points


def complexity(
    codecs: str | Sequence[str],
    sizes: str | Iterable[int | str | tuple[int, int]] = DEFAULT_SIZES,
    qualities: Qualities = None,
    *,
    dataset: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    repeat: int = 3,
    threads: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    flops_only: bool = False,
    forward_only: bool = False,
    in_process: bool = False,
    db: str | os.PathLike[str] = DEFAULT_DB,
    store: bool = True,
    data_root: str | os.PathLike[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Measure encode, decode and forward time, peak memory and FLOPs of ``codecs`` at each image
    size, as ``rdbench complexity`` does (its ``--help`` says more), and return the points.

    ``sizes``: square sides and WIDTHxHEIGHT sizes (``"256,768x512"`` or ``[256, (768, 512)]``).
    ``qualities``: one point per codec (a list for every codec, a mapping codec -> [point], or a
    QualityChoice); None: the first of each codec's sweep. ``dataset``: resize the first image of
    this dataset (or folder) to each size instead of a synthetic image. ``repeat``: timed runs per
    measure (the median is kept). ``threads``: torch threads in each worker. ``checkpoint`` /
    ``checkpoint_dir``: learned codecs' weights. ``flops_only``: count FLOPs and decoder MACs only
    (no timing, any size); ``forward_only``: time the model forward only (no entropy coding).
    ``in_process``: measure here instead of in a fresh worker per point. ``store``: also store each
    point in ``db`` as it is measured. ``say``: takes a line per point measured and per codec
    skipped (default: printed on stderr).

    Returns one row per point: the fields of :class:`rdbench.store.record.ComplexityPoint`
    (codec, config_hash, quality, device, height, width, pixels, encode_s, decode_s, forward_s,
    peak_mem_bytes, flops, decoder_macs_per_px, status, error, ...) and ``flops_per_pixel``. A
    point that ran out of memory has status ``oom``. Raises :class:`~rdbench.errors.UsageError` on
    a bad argument (nothing stored) and :class:`~rdbench.errors.RdbenchError` when no codec can run.
    """
    from rdbench.analysis.dataframes import complexity_frame

    return complexity_frame(measure_complexity(
        codecs, sizes, qualities, dataset=dataset, device=device, repeat=repeat, threads=threads,
        checkpoint=checkpoint, checkpoint_dir=checkpoint_dir, flops_only=flops_only, forward_only=forward_only,
        in_process=in_process, db=db, store=store, data_root=data_root, say=say))


def progress_line(point: ComplexityPoint) -> str:
    """What a finished point measured, in one line (times, then peak memory, then FLOPs)."""
    if point.status != "ok":
        return point.status
    parts = [f"{name} {getattr(point, name + '_s'):.3f}s" for name in ("encode", "decode", "forward")
             if getattr(point, name + "_s") is not None]
    for label, value in (("peak", point.peak_mem_bytes), ("forward peak", point.forward_peak_mem_bytes)):
        if value is not None:
            parts.append(f"{label} {value / 2**20:.0f} MiB")
    if point.flops is not None:
        parts.append(f"{point.flops_per_pixel / 1e3:.0f} kFLOPs/px")
    if point.decoder_macs_per_px is not None:
        parts.append(f"decoder {point.decoder_macs_per_px:,.0f} MACs/px")
    return " ".join(parts) or "ok"
