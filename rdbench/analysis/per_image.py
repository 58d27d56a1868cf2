"""Per-image BD values: each image's curve against the anchor's curve on the same image.

WHY: a dataset BD-rate is computed between mean curves; it says nothing about how gains spread
over content. When the codec and the anchor are both measured on the same images, each image
gives a paired BD value (that image's curve of the codec against that image's curve of the
anchor), and their median and spread show whether a gain is general or carried by a few images.
Images on which no value can be computed (not measured by one side, a quality missing, a curve
that is not monotonic, no overlap) are listed with the reason, never dropped silently.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rdbench.analysis.bdrate import BdKind, BdRateError, bd_value
from rdbench.analysis.image_sets import ImageSet, common_images


def per_image_values(anchor: Any, test: Any, metric: str, *, method: str = "pchip", kind: BdKind = "rate",
                     interval: tuple[float | None, float | None] | None = None,
                     images: ImageSet | None = None) -> list[dict[str, Any]]:
    """One entry per image either selection (:class:`rdbench.analysis.curves.Selection`) names:
    ``image``, ``value`` (BD-rate % or BD-PSNR dB, NaN with ``reason`` when none), ``overlap``
    and ``interval``. Only the images of ``images`` (default: the comparison's common set,
    :func:`rdbench.analysis.image_sets.common_images`) get a value; every other one has the reason
    it is left out of the comparison."""
    if images is None:
        images = common_images(anchor, test, metric)
    a_curves, t_curves = anchor.per_image(metric, images), test.per_image(metric, images)
    out = []
    for image in sorted(set(images.images) | set(images.left_out)):
        entry: dict[str, Any] = {"image": image, "value": math.nan, "overlap": math.nan, "interval": None,
                                 "interval_text": "", "reason": images.left_out.get(image)}
        if image in images:
            try:
                result = bd_value(a_curves[image], t_curves[image], method, kind=kind, interval=interval)
            except BdRateError as exc:
                entry["reason"] = str(exc)
            else:
                entry.update(value=result.value, overlap=result.overlap, interval=result.interval_dict(),
                             interval_text=result.interval_text())
        out.append(entry)
    return out


def summarize(values: list[float]) -> dict[str, Any]:
    """Median and spread of the finite per-image values: n, median, q1, q3 (quartiles), min, max, mean."""
    finite = np.array([v for v in values if isinstance(v, float) and math.isfinite(v)])
    if finite.size == 0:
        return {"n": 0, "median": math.nan, "q1": math.nan, "q3": math.nan, "min": math.nan, "max": math.nan,
                "mean": math.nan}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {"n": int(finite.size), "median": float(median), "q1": float(q1), "q3": float(q3),
            "min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean())}
