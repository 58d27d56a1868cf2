"""Speed of the whole ``jpeg-ai`` metric set: rdbench's against the JPEG AI framework's own code.

Both on the same CPU, in one process, side by side (rdbench, framework, rdbench, ...), median of
``--rounds``, torch on 1 thread (as in every ``--jobs N`` worker). Images: Kodak kodim01, the
Tecnick and CLIC samples of ../shared/datasets/samples, each against its Pillow JPEG (quality 30).
The values are compared too (largest relative difference per metric). VMAF is measured by neither.

rdbench: every metric of the set from the uint8 arrays, the colour conversion included (its cache
is emptied first), as ``plugin_metrics`` calls them. Framework: ``DataClass.load_image`` of both
PNG files (cv2 decoding included; the decoding alone is timed and shown apart) and its metric
classes' ``calc``, as its ``main.py`` runs them.

The framework's code is not part of rdbench: give the folders to import it from, e.g. a copy of
``src/codec/metrics`` of github.com/akarabutov/jpeg-ai-reference-software (commit faded723) under
/tmp/jpegai-ref, with IQA_pytorch 0.1, pyrtools 1.0.0, psnr_hvsm 0.1.1 and opencv-python-headless
installed with ``pip install --target`` into folders beside it (docs/metrics.md, "Golden values")::

    python bench/bench_metrics_jpegai.py \\
        --framework /tmp/jpegai-ref:/tmp/jpegai-ref/site:/tmp/jpegai-ref/cv:/tmp/jpegai-ref/hvsm011 \\
        [--rounds 3] [--out bench/results/metrics_jpegai.md]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
IMAGES = [
    ("Kodak kodim01 (768x512)", SHARED / "kodak" / "kodim01.png"),
    ("Tecnick sample (1200x1200)", SHARED / "samples" / "RGB_OR_1200x1200_001.png"),
    ("CLIC sample (2048x1363)", SHARED / "samples" / "alberto-montalesi-176097.png"),
]
QUALITY = 30


def rdbench_set(original: np.ndarray, reconstruction: np.ndarray) -> dict[str, float]:
    from rdbench import metric_spec
    from rdbench.run.metrics.jpegai import colour

    colour.clear_cache()
    names = [n for n in metric_spec.SETS["jpeg-ai"] if not metric_spec.get(n).unavailable]
    return {n: metric_spec.get(n).load()(original, reconstruction) for n in names}


class Framework:
    """The framework's metric classes, created once, as its MetricsProcessor does."""

    def __init__(self) -> None:
        np.float = float  # pyrtools 1.0.0, which the framework pins, names np.float (float64 then)
        from src.codec.metrics import metrics as m

        kw = dict(bits=10, max_val=1023, device=torch.device("cpu"))
        self.m = m
        self.metrics = {"psnr": m.PSNRMetric(**kw), "ms-ssim-y": m.MSSSIMTorch(**kw), "iw-ssim": m.IWSSIM(**kw),
                        "vif": m.VIF_IQA(**kw), "fsim": m.FSIM_IQA(**kw), "nlpd": m.NLPD_IQA(**kw),
                        "psnr-hvs": m.PSNR_HVS(**kw)}

    def run(self, original_png: str, reconstruction_png: str) -> dict[str, float]:
        o, _ = self.m.DataClass().load_image(original_png, def_bits=10, color_conv="709", device="cpu")
        r, _ = self.m.DataClass().load_image(reconstruction_png, def_bits=10, color_conv="709", device="cpu")
        values = {}
        for key, metric in self.metrics.items():
            v = metric.calc(o, r)
            if key == "psnr":
                values.update({"psnr-y": v[0], "psnr-u": v[1], "psnr-v": v[2]})
                values["psnr-yuv"] = (6 * v[0] + v[1] + v[2]) / 8
            else:
                values[key] = v
        return values


def timed(f, *args):
    start = time.perf_counter()
    out = f(*args)
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--framework", required=True, help="os.pathsep-separated folders to import the framework from")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sys.path[:0] = [p for p in args.framework.split(os.pathsep) if p]
    torch.set_num_threads(1)
    framework = Framework()
    lines = ["| image | rdbench (s) | framework (s) | of which PNG decoding (s) | speed-up | largest relative difference |",
             "|---|---:|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in IMAGES:
            original = np.asarray(Image.open(path).convert("RGB"))
            buf = io.BytesIO()
            Image.fromarray(original).save(buf, format="JPEG", quality=QUALITY)
            reconstruction = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            pngs = [f"{tmp}/o.png", f"{tmp}/r.png"]
            Image.fromarray(original).save(pngs[0])
            Image.fromarray(reconstruction).save(pngs[1])
            ours, theirs, decode = [], [], []
            for _ in range(args.rounds):
                t, mine = timed(rdbench_set, original, reconstruction)
                ours.append(t)
                t, ref = timed(framework.run, *pngs)
                theirs.append(t)
                import cv2

                decode.append(timed(lambda: [cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in pngs])[0])
            worst = max(((abs(mine[k] - ref[k]) / abs(ref[k]), k) for k in ref), default=(0.0, ""))
            a, b = statistics.median(ours), statistics.median(theirs)
            lines.append(f"| {label} | {a:.2f} | {b:.2f} | {statistics.median(decode):.3f} | {b / a:.1f}x | "
                         f"{worst[0]:.1e} ({worst[1]}) |")
            print(lines[-1], flush=True)
    header = [f"# The jpeg-ai metric set: rdbench against the JPEG AI framework's code ({platform.processor() or platform.machine()})",
              "",
              f"`{' '.join(['python', 'bench/bench_metrics_jpegai.py'] + sys.argv[1:])}`; torch {torch.__version__} on 1 thread, "
              f"median of {args.rounds} interleaved rounds, JPEG quality {QUALITY} reconstructions; "
              "every metric of the set but VMAF (unavailable to both here).", ""]
    text = "\n".join(header + lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
