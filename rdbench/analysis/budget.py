"""A byte budget for a whole dataset (the CLIC protocol): one stored quality per image, total bytes within
the budget, the dataset's PSNR (from the total squared error over every pixel) as high as it can be.

WHY a Lagrangian allocation over convex hulls: CLIC 2021-2024 gives a codec a budget of bytes for its whole
test set (0.075, 0.15 and 0.3 bpp over the corpus) and ranks by the PSNR of the total MSE, so bytes should
go where they buy the most squared error. For a slope lambda, each image taking the point that minimises
``SSE + lambda * bytes`` among its measured points gives an allocation that no other choice of measured
points beats at its own total bytes; those points lie on each image's lower convex hull in (bytes, SSE),
and lowering lambda moves one image one hull step at a time, the step that buys the most SSE per byte
first. :func:`allocate` takes those steps while they fit in the budget. That Lagrangian allocation is
exact (the best of all choices of measured points) for a budget equal to the bytes it uses; when the
budget lies between two such totals, the best choice may be another combination, and it is at most as
good as ``psnr_bound`` (the same steps with the next one taken in part: the bound of the convex
relaxation). The bytes the walk leaves are then spent greedily (:func:`fill`): other images' smaller
moves, off the hulls too, that still fit. Both are reported: the Lagrangian point, exact at its own
bytes, and the final one, never worse and still within the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.aggregate import capped_db
from rdbench.errors import UsageError
from rdbench.store.record import STATUS_OK
from rdbench.store.sqlite import Store

#: CLIC's corpus budgets (bpp over the whole test set), 2021-2024.
CLIC_BUDGETS = (0.075, 0.15, 0.3)
#: The peak of 8-bit samples, as PSNR takes it.
PEAK = 255.0


@dataclass(frozen=True)
class Point:
    """One stored point of one image: its quality, bytes and squared error over all its samples."""

    image: str
    quality: str
    num_bytes: int
    sse: float
    pixels: int
    psnr: float | None = None
    ms_ssim: float | None = None


@dataclass
class Allocation:
    """One codec's allocation of one corpus budget: the point chosen for each image, and its figures."""

    codec: str
    corpus_bpp: float
    budget_bytes: int
    #: the final choice: the Lagrangian allocation, then the leftover bytes spent (:func:`fill`)
    chosen: list[Point] = field(default_factory=list)
    #: the Lagrangian allocation alone (exact at its own bytes)
    lagrangian: list[Point] = field(default_factory=list)
    #: SSE bought per byte by the last hull step taken (the Lagrange multiplier); None when none was taken
    slope: float | None = None
    #: the bound of the convex relaxation on the total SSE at this budget (no choice does better)
    sse_bound: float | None = None
    #: why nothing fits, when even the smallest point of every image is over the budget
    note: str = ""

    @property
    def total_bytes(self) -> int:
        return sum(p.num_bytes for p in self.chosen)

    @property
    def pixels(self) -> int:
        return sum(p.pixels for p in self.chosen)

    @property
    def sse(self) -> float:
        return sum(p.sse for p in self.chosen)

    @property
    def bpp(self) -> float:
        return 8 * self.total_bytes / self.pixels

    @property
    def psnr(self) -> float | None:
        """PSNR of the total MSE over every sample of every image (CLIC's dataset PSNR), capped as rdbench caps."""
        return corpus_psnr(self.sse, self.pixels)

    @property
    def psnr_bound(self) -> float | None:
        return None if self.sse_bound is None else corpus_psnr(self.sse_bound, self.pixels)

    @property
    def leftover_bytes(self) -> int:
        return self.budget_bytes - self.total_bytes

    @property
    def lagrangian_bytes(self) -> int:
        return sum(p.num_bytes for p in self.lagrangian)

    @property
    def lagrangian_psnr(self) -> float | None:
        """The PSNR of the Lagrangian allocation, before the leftover bytes were spent."""
        return corpus_psnr(sum(p.sse for p in self.lagrangian), self.pixels)

    @property
    def exact(self) -> bool:
        """Whether no choice of the measured points does better within the budget: the Lagrangian walk used
        every byte, or the final choice reaches the bound."""
        return self.lagrangian_bytes == self.budget_bytes or self.psnr_bound == self.psnr

    def summary(self) -> dict[str, Any]:
        """The row of ``rdbench budget``'s table: the final choice, and the Lagrangian one it started from."""
        return {"codec": self.codec, "corpus_bpp": self.corpus_bpp, "images": len(self.chosen),
                "budget_bytes": self.budget_bytes, "lagrangian_bytes": self.lagrangian_bytes,
                "lagrangian_psnr": self.lagrangian_psnr, "bytes": self.total_bytes,
                "leftover_bytes": self.leftover_bytes, "bpp": self.bpp, metric_spec.PSNR.field: self.psnr,
                "psnr_bound": self.psnr_bound, "exact": self.exact, "slope": self.slope,
                "moved": sum(a != b for a, b in zip(self.lagrangian, self.chosen)), "note": self.note}

    def rows(self) -> list[dict[str, Any]]:
        """One row per image: the quality chosen, its bytes, bpp and PSNR."""
        return [{"codec": self.codec, "corpus_bpp": self.corpus_bpp, "image": p.image, "quality": p.quality,
                 "bytes": p.num_bytes, "bpp": 8 * p.num_bytes / p.pixels, metric_spec.PSNR.field: capped_db(p.psnr),
                 metric_spec.MS_SSIM.field: p.ms_ssim} for p in self.chosen]


def corpus_psnr(sse: float, pixels: int) -> float | None:
    """10 log10(255^2 / MSE) of the MSE over ``pixels`` RGB pixels; lossless counts as rdbench's cap."""
    if pixels <= 0:
        return None
    mse = sse / (3 * pixels)
    return capped_db(math.inf if mse == 0 else 10 * math.log10(PEAK ** 2 / mse))


def hull(points: Sequence[Point]) -> list[Point]:
    """The lower convex hull of one image's points in (bytes, SSE), from fewest bytes on: the only points
    a Lagrangian allocation ever takes (each buys less SSE per byte than the one before)."""
    ordered = sorted(points, key=lambda p: (p.num_bytes, p.sse))
    kept: list[Point] = []
    for point in ordered:
        if kept and point.sse >= kept[-1].sse:
            continue  # more bytes for no less error
        while len(kept) >= 2 and _cross(kept[-2], kept[-1], point) <= 0:
            kept.pop()
        kept.append(point)
    return kept


def _cross(a: Point, b: Point, c: Point) -> float:
    """> 0 when b lies below the line from a to c (b stays on the lower hull)."""
    return (b.num_bytes - a.num_bytes) * (c.sse - a.sse) - (b.sse - a.sse) * (c.num_bytes - a.num_bytes)


def allocate(per_image: dict[str, Sequence[Point]], budget_bytes: int, codec: str = "",
             corpus_bpp: float = math.nan) -> Allocation:
    """The Lagrangian allocation of ``budget_bytes`` over the images' points (module docstring)."""
    hulls = {image: hull(points) for image, points in sorted(per_image.items()) if points}
    position = {image: 0 for image in hulls}
    steps = sorted(((-(h[k].sse - h[k + 1].sse) / (h[k + 1].num_bytes - h[k].num_bytes), image, k)
                    for image, h in hulls.items() for k in range(len(h) - 1)))
    total = sum(h[0].num_bytes for h in hulls.values())
    result = Allocation(codec, corpus_bpp, budget_bytes)
    if total > budget_bytes:
        result.chosen = result.lagrangian = [h[0] for h in hulls.values()]
        result.note = f"over budget: the fewest bytes of every image add up to {total}"
        return result
    sse = sum(h[0].sse for h in hulls.values())
    for negative_slope, image, k in steps:
        h = hulls[image]
        extra = h[k + 1].num_bytes - h[k].num_bytes
        if total + extra > budget_bytes:
            result.sse_bound = sse + negative_slope * (budget_bytes - total)
            break
        total += extra
        sse -= h[k].sse - h[k + 1].sse
        position[image] = k + 1
        result.slope = -negative_slope
    else:
        result.sse_bound = sse  # every image at its most bytes: nothing left to buy
    result.lagrangian = [hulls[image][position[image]] for image in hulls]
    result.chosen = fill(result.lagrangian, {image: per_image[image] for image in hulls}, budget_bytes - total)
    return result


def fill(chosen: Sequence[Point], per_image: dict[str, Sequence[Point]], leftover: int) -> list[Point]:
    """``chosen`` (one point per image, in the order of ``per_image``) with ``leftover`` bytes spent: while
    some image has a measured point with less error whose extra bytes fit in what is left, the move that
    saves the most SSE per byte is taken.

    WHY: the Lagrangian walk stops at the first hull step that does not fit, though smaller steps of other
    images (or points off their hulls) may; taking them keeps the total within the budget and only lowers
    the error, so the final choice is never worse than the Lagrangian one."""
    current = {p.image: p for p in chosen}
    while True:
        moves = [((here.sse - p.sse) / max(p.num_bytes - here.num_bytes, 1), p.num_bytes - here.num_bytes, p.image,
                  p.quality, p)
                 for image, here in current.items() for p in per_image[image]
                 if p.sse < here.sse and p.num_bytes - here.num_bytes <= leftover]
        if not moves:
            return [current[image] for image in per_image]
        *_, best = max(moves, key=lambda m: (m[0], -m[1], m[2], m[3]))
        leftover -= best.num_bytes - current[best.image].num_bytes
        current[best.image] = best


def stored_points(store: Store, codec: str, dataset: str) -> dict[str, list[Point]]:
    """Image -> the ok points of one codec configuration (``NAME`` or ``NAME@SELECTOR``) on ``dataset``."""
    from rdbench.analysis.catalogue import Catalogue

    records = store.find_records(selections=[Catalogue(store).resolve(codec).selection()], datasets=[dataset],
                                 status=STATUS_OK, stale=False)
    if not records:
        raise UsageError(f"no stored point of {codec} on {dataset}",
                         hint=f"run a dense sweep first: rdbench run --codec {codec} --dataset {dataset}")
    found: dict[str, list[Point]] = {}
    seen: set[tuple[str, str]] = set()
    for record in records:
        if (record.image, record.quality) in seen:
            raise UsageError(f"{codec} has points of several configurations, weights or devices on {dataset}",
                             hint="name one as NAME@HASH, NAME@DEVICE or NAME@WEIGHTS")
        seen.add((record.image, record.quality))
        pixels = record.height * record.width
        found.setdefault(record.image, []).append(
            Point(record.image, record.quality, record.num_bytes, record.mse * 3 * pixels, pixels, record.psnr,
                  record.ms_ssim))
    return found


def corpus_budget(db: str | Path | Store, codecs: str | Iterable[str], dataset: str,
                  corpus_bpp: Iterable[float] = CLIC_BUDGETS) -> list[Allocation]:
    """Each codec's allocation of each corpus budget (bpp over every pixel of ``dataset``), from its stored
    points: what ``rdbench budget`` prints. Codecs are compared on the images they all have points of."""
    names = [n.strip() for n in codecs.split(",") if n.strip()] if isinstance(codecs, str) else list(codecs)
    budgets = check_budgets(corpus_bpp)
    if not names:
        raise UsageError("--codec names no codec")
    opened = db if isinstance(db, Store) else Store(db, readonly=True)
    try:
        points = {name: stored_points(opened, name, dataset) for name in names}
    finally:
        if opened is not db:
            opened.close()
    images = set.intersection(*(set(p) for p in points.values()))
    pixels = {image: next(iter(points[names[0]][image])).pixels for image in images}
    out = []
    for name in names:
        mine = {image: points[name][image] for image in images}
        dropped = len(points[name]) - len(images)
        for bpp in budgets:
            allocation = allocate(mine, int(bpp * sum(pixels.values()) / 8), name, bpp)
            if dropped:
                allocation.note = "; ".join(filter(None, [allocation.note, f"{dropped} image(s) left out: not "
                                                          "measured for every codec compared"]))
            out.append(allocation)
    return out


def check_budgets(values: Iterable[float | str]) -> tuple[float, ...]:
    """``--corpus-bpp`` values: numbers above 0 (UsageError otherwise), sorted."""
    budgets = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"--corpus-bpp {value!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise UsageError(f"--corpus-bpp {value}: a budget must be a rate above 0 bpp")
        budgets.append(number)
    if not budgets:
        raise UsageError("--corpus-bpp names no budget")
    return tuple(sorted(set(budgets)))
