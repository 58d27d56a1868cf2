"""The JPEG AI quality framework's metrics, each computed as its code computes it.

Why a package of its own: JPEG AI's common test conditions measure on a 10-bit Y'CbCr BT.709
version of the image (:mod:`.colour`), pad small images to each metric's minimum size, and use a
1023 peak; these metrics share that input and nothing with rdbench's RGB PSNR and MS-SSIM.

One module per family, each function a plug-in metric ``f(original, reconstruction) -> float`` on
(H, W, 3) uint8 RGB arrays (declared in :data:`rdbench.metric_spec.SHIPPED`):

* :mod:`.colour`: the 10-bit conversion, once per image (a small cache shares it within a pair);
* :mod:`.inputs`: the float tensors each metric is fed, with the framework's padding;
* :mod:`.psnr`: PSNR on Y', Cb, Cr, their 6:1:1 mean, and PSNR-HVS (``psnr_hvsm``);
* :mod:`.ssim`: MS-SSIM on Y' (pytorch_msssim) and IW-SSIM (piq);
* :mod:`.vif_fsim`: VIF in the pixel domain and FSIM (piq);
* :mod:`.nlpd`: the normalised Laplacian pyramid distance;
* :mod:`.vmaf`: VMAF's availability (no libvmaf here: listed as unavailable, never a value).

Definitions, references and the measured agreement with the framework: ``docs/metrics.md``.
"""

#: Relative tolerance of each metric's agreement with the framework's own code (docs/metrics.md, the JPEG AI
#: metrics' table and "Golden values"): 1e-6 where rdbench runs the framework's arithmetic, else the measured
#: difference of piq's float32 code from the framework's libraries, with a margin. The golden tests hold every
#: metric to it, and ``bench/gpu_suite.py`` the device path against the numpy path.
AGREEMENT = {"psnr-y": 1e-6, "psnr-u": 1e-6, "psnr-v": 1e-6, "psnr-yuv": 1e-6, "ms-ssim-y": 1e-6, "nlpd": 1e-6,
             "psnr-hvs": 1e-6, "iw-ssim": 5e-5, "vif": 1e-5, "fsim": 1e-5}
