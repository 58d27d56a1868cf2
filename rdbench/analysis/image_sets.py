"""Which images a curve, or a comparison of two curves, averages: the one place that decides.

WHY: a point of a curve is a mean over images. When the images differ between the points of one
curve (an image measured at one quality only, a codec that failed on one image at one quality, an
image too small for MS-SSIM), or between the two curves of a comparison (images added after the
anchor was measured), the means describe different populations and the BD value between them is
wrong without a word. So (docs/guarantees.md, "What a number averages"):

* a **curve** averages the images that have an ``ok`` record with a value of the metric at *every*
  quality of the curve (:func:`complete_images`);
* a **comparison** of two measured curves averages the images *both* curves have complete, with the
  same content on both sides (:func:`common_images`); every number of the comparison (the mean-curve
  value, per-image values, the bootstrap interval, the delta plot) uses exactly that set;
* every image left out is named with its reason (:attr:`ImageSet.left_out`) and counted where the
  number is shown.

A record's metric value is the per-image value the means use: the PSNR capped for lossless images
(:func:`rdbench.analysis.aggregate.capped_db`), the linear MS-SSIM.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rdbench.analysis.aggregate import _quality_sort_key, per_image_value
from rdbench.errors import plural
from rdbench.store.record import Record


def metric_value(record: Record, metric: str | None) -> float | None:
    """The per-image value of ``metric`` a mean curve averages (None when the record has none);
    ``metric=None`` asks only for a rate (any ok record with a bpp)."""
    if not record.ok or record.bpp is None:
        return None
    if metric is None:
        return float(record.bpp)
    value = per_image_value(record, metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


@dataclass(frozen=True)
class ImageSet:
    """The images a number averages, and every image left out of it with the reason."""

    images: tuple[str, ...]
    #: image -> why it is not averaged (a quality missing, no metric value, another content, one side only)
    left_out: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def __contains__(self, image: object) -> bool:
        return image in self.images

    def describe(self) -> str:
        """``3 images (2 left out: kodim05: no psnr value at quality 90; ...)`` for notes and footnotes."""
        text = plural(len(self.images), "image")
        if self.left_out:
            shown = "; ".join(f"{i}: {r}" for i, r in sorted(self.left_out.items())[:3])
            more = f"; and {len(self.left_out) - 3} more" if len(self.left_out) > 3 else ""
            text += f" ({len(self.left_out)} left out: {shown}{more})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"images": len(self.images), "left_out": len(self.left_out), "left_out_images": dict(self.left_out)}


def _table(records: Iterable[Record], metric: str | None) -> tuple[dict[str, dict[str, float]], dict[str, str],
                                                                     set[str]]:
    """image -> quality -> metric value of ok records; image -> content hash; every image named."""
    values: dict[str, dict[str, float]] = {}
    hashes: dict[str, str] = {}
    named: set[str] = set()
    for record in records:
        named.add(record.image)
        value = metric_value(record, metric)
        if value is not None:
            values.setdefault(record.image, {})[record.quality] = value
            hashes[record.image] = record.image_hash
    return values, hashes, named


def complete_images(records: Iterable[Record], qualities: list[str], metric: str | None) -> ImageSet:
    """The images with a value of ``metric`` at every one of ``qualities`` among ``records`` (one
    curve's records), and why each other image named in them is left out."""
    values, _, named = _table(records, metric)
    what = f"{metric} value" if metric else "ok record"
    kept, left_out = [], {}
    for image in sorted(named):
        missing = [q for q in qualities if q not in values.get(image, {})]
        if missing:
            left_out[image] = f"no {what} at quality {', '.join(sorted(missing, key=_quality_sort_key))}"
        else:
            kept.append(image)
    return ImageSet(tuple(kept), left_out)


def common_images(anchor: Any, test: Any, metric: str) -> ImageSet:
    """The images two measured curves (:class:`rdbench.analysis.curves.Selection`) both average for
    ``metric``, with the same content on both sides; each other image with the reason, naming the side."""
    a_set, t_set = anchor.image_set(metric), test.image_set(metric)
    a_hash = {r.image: r.image_hash for r in anchor.records if r.ok}
    t_hash = {r.image: r.image_hash for r in test.records if r.ok}
    kept, left_out = [], {}
    for image in sorted(set(a_set.images) | set(t_set.images) | set(a_set.left_out) | set(t_set.left_out)):
        if image in a_set.left_out:
            left_out[image] = f"anchor {anchor.name}: {a_set.left_out[image]}"
        elif image in t_set.left_out:
            left_out[image] = f"{test.name}: {t_set.left_out[image]}"
        elif image not in a_set:
            left_out[image] = f"measured by {test.name} only, not by the anchor {anchor.name}"
        elif image not in t_set:
            left_out[image] = f"measured by the anchor {anchor.name} only, not by {test.name}"
        elif a_hash.get(image) != t_hash.get(image):
            left_out[image] = "the codec and the anchor coded different contents under this name"
        else:
            kept.append(image)
    return ImageSet(tuple(kept), left_out)
