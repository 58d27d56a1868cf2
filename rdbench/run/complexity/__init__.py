"""Time, memory and FLOPs of a codec against image resolution: the measuring side.

The study behind it: MLIC and MLIC+ compute explicit softmax attention maps between latent
positions (quadratic in the pixel count); MLIC++ decomposes the softmax (linear). So FLOPs per
pixel should stay flat with resolution for MLIC++ and grow for MLIC/MLIC+, and peak memory
should scale with exponent ~1 for MLIC++ and >1 for the others once the attention maps
dominate (at the larger sizes).

One module per part of a measurement:

* :mod:`.inputs`: the synthetic or resized square image a point is measured on;
* :mod:`.memory`: peak memory over a block (CUDA allocator or resident set) and the glibc
  allocator settings that make a CPU peak a block's own;
* :mod:`.flops`: FLOPs of one model forward, counted on the ``meta`` device;
* :mod:`.decoder`: the decoder's share of them, as MACs per pixel (C3's convention);
* :mod:`.point`: one point measured in this process (:func:`measure_point`);
* :mod:`.fresh`: one point measured in a fresh worker process (:func:`measure_point_fresh`).

A point is a :class:`rdbench.store.record.ComplexityPoint`, stored by
:meth:`rdbench.store.sqlite.Store.add_complexity_points`; scaling exponents and plots are
analysis (:mod:`rdbench.analysis.complexity`). torch is imported only when a model is measured.
"""

from rdbench.run.complexity.flops import count_flops, count_forward
from rdbench.run.complexity.fresh import measure_point_fresh
from rdbench.run.complexity.inputs import resized_image, synthetic_image
from rdbench.run.complexity.point import measure_point

__all__ = ["count_flops", "count_forward", "measure_point", "measure_point_fresh", "resized_image", "synthetic_image"]
