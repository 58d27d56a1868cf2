"""A comparison of a codec's curve with an anchor's on one dataset: both curves over one image set.

WHY: every number of a comparison (the mean-curve BD value, the per-image values and their
summary, the bootstrap interval, the delta plot, the report's cells, the export) must describe
the same images, or a headline and its interval disagree (docs/guarantees.md, "What a number
averages"). :func:`compare` decides that set once (:func:`rdbench.analysis.image_sets.common_images`
when both curves are measured per image; a measured curve's own complete set against a published
curve) and gives both mean curves over it; the callers only use what it gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdbench.analysis.curves import CurveInfo
from rdbench.analysis.image_sets import ImageSet, common_images


@dataclass
class Comparison:
    """Two curves on one dataset for one metric, their points over one image set."""

    anchor: CurveInfo
    test: CurveInfo
    metric: str
    anchor_points: list[tuple[float, float]]
    test_points: list[tuple[float, float]]
    #: the images both mean curves average (both measured), the measured side's images (one measured),
    #: None when both curves are published (no per-image values)
    images: ImageSet | None

    @property
    def paired(self) -> bool:
        """Both curves measured per image: per-image values and a paired bootstrap are possible."""
        return self.anchor.selection is not None and self.test.selection is not None

    def empty_reason(self) -> str | None:
        """Why no value can be computed over the image set (no common image), else None."""
        if self.images is None or self.images.images:
            return None
        if self.paired:
            return (f"no image has a {self.metric} value at every quality of both {self.test.name} and the anchor "
                    f"{self.anchor.name} ({self.images.describe()})")
        side = self.test if self.test.selection is not None else self.anchor
        return f"no image has a {self.metric} value at every quality of {side.name} ({self.images.describe()})"


def compare(anchor: CurveInfo, test: CurveInfo, metric: str) -> Comparison:
    """Both curves over the images the rule keeps (module docstring)."""
    a_sel, t_sel = anchor.selection, test.selection
    if a_sel is not None and t_sel is not None:
        images = common_images(a_sel, t_sel, metric)
        return Comparison(anchor, test, metric, a_sel.points(metric, images), t_sel.points(metric, images), images)
    if t_sel is not None:
        images = t_sel.image_set(metric)
        return Comparison(anchor, test, metric, anchor.points, t_sel.points(metric, images), images)
    if a_sel is not None:
        images = a_sel.image_set(metric)
        return Comparison(anchor, test, metric, a_sel.points(metric, images), test.points, images)
    return Comparison(anchor, test, metric, anchor.points, test.points, None)
