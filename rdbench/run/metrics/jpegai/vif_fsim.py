"""VIF (pixel domain) on Y' and FSIM on RGB, with piq, as JPEG AI measures them.

* VIF (Sheikh and Bovik 2006, the pixel-domain version): ``piq.vif_p`` on Y' in [0, 1]
  (float32 ``code / 1023``) zero-padded to 64 px; the framework uses IQA_pytorch's ``VIFs``, the
  same four-scale definition with other small constants against division by zero.
* FSIM (Zhang et al. 2011, FSIM_C with colour): ``piq.fsim`` on the 10-bit rounded RGB in [0, 1],
  unpadded; the framework uses IQA_pytorch's ``FSIM``, the same definition.

Both libraries compute in float32; their values differ by float32 rounding and those constants
(``docs/metrics.md``).
"""

from __future__ import annotations

import numpy as np
import torch

from rdbench.run.metrics.jpegai.inputs import luma, rgb

VIF_MIN = 64


def vif(original: np.ndarray, reconstruction: np.ndarray) -> float:
    from piq import vif_p

    with torch.inference_mode():
        return float(vif_p(luma(reconstruction, min_size=VIF_MIN), luma(original, min_size=VIF_MIN), data_range=1.0))


def fsim(original: np.ndarray, reconstruction: np.ndarray) -> float:
    from piq import fsim as _fsim

    with torch.inference_mode():
        return float(_fsim(rgb(reconstruction), rgb(original), data_range=1.0, chromatic=True))
