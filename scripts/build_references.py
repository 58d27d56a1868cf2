"""Build rdbench's shipped reference curves from the raw published files.

A one-off maintenance script, not part of the installed package: it reads the copies of the
authors' result files kept under ``../shared/reference`` and writes one JSON file per curve
(``<name>__<dataset>.json``, with its provenance) into the folder rdbench ships, where
:mod:`rdbench.analysis.references` lists and loads them::

    python scripts/build_references.py ../shared/reference --out rdbench/analysis/reference_curves

``tests/test_bdrate.py`` runs it on ../shared and compares with the shipped files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rdbench.analysis.references import REFERENCE_DIR
from rdbench.run.metrics import ms_ssim_db

MLIC_COMMIT = "JiangWeibeta/MLIC @ 4aa9d2a512eb9db382172058e6c278fb0d376e17"
LOSSY_VAE_COMMIT = "duanzhiihao/lossy-vae @ 005c3c22e0087c4dc1c65916e27831411b9c41cd"
MLIC_DATASETS = {"kodak": "kodak", "tecnick": "tecnick", "clic_pro_val": "clic-pro-valid"}
MLIC_MODELS = {"mlic": "mlic-paper", "mlicplus": "mlicplus-paper", "mlicplusplus": "mlicpp-paper"}
LIC_TCM_COMMIT = "jmliu206/LIC_TCM @ 6c6d7a364817a4c372bd210dbbcb175f9172caa0"
LIC_TCM_DATASETS = {"Kodak": "kodak", "CLIC Pro": "clic-pro-valid", "Tecnick": "tecnick"}
#: the QPs of lossy-vae's VTM-18.0 curves, in the order of their points
VTM18_QPS = range(15, 51)
VTM18_FILES = {"kodak": "kodak/kodak-vtm18.0.json", "tecnick": "tecnick-rgb-1200/tecnick-rgb-1200-vtm18.0.json"}


def _write(out: Path, curve: dict) -> Path:
    path = out / f"{curve['name']}__{curve['dataset']}.json"
    path.write_text(json.dumps(curve, indent=1) + "\n")
    return path


def build_from_shared(shared_reference: Path, out: Path = REFERENCE_DIR) -> list[Path]:
    """Convert the raw published files into rdbench's one-curve-per-file JSON format."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rd = shared_reference / "rd"
    for folder, dataset in MLIC_DATASETS.items():
        for stem, name in MLIC_MODELS.items():
            src = rd / "JiangWeibeta_MLIC" / "results" / folder / f"{stem}_mse.json"
            data = json.loads(src.read_text())
            written.append(_write(out, {
                "name": name, "dataset": dataset, "bpp": data["bpp"], "psnr": data["psnr"],
                "source_repository": MLIC_COMMIT, "source_file": f"results/{folder}/{stem}_mse.json",
                "description": f"{stem} (MSE-optimised) RD points published by the authors; RGB PSNR, mean bpp",
            }))
    for dataset, rel in VTM18_FILES.items():
        raw = json.loads((rd / "duanzhiihao_lossy-vae" / "results" / rel).read_text())
        data = raw.get("results", raw)
        written.append(_write(out, {
            "name": "vtm18-published", "dataset": dataset, "bpp": data["bpp"], "psnr": data["psnr"],
            "quality": vtm18_qps(raw, data, rel),
            "source_repository": LOSSY_VAE_COMMIT, "source_file": f"results/{rel}",
            "description": "VTM-18.0 intra, QP 15..50, RGB PSNR, per-image mean; `quality`: the QP of each point",
        }))
    for curve in parse_lic_tcm((rd / "jmliu206_LIC_TCM" / "RD_data.md").read_text()):
        written.append(_write(out, curve))
    kodak = shared_reference / "compressai_results" / "kodak"
    for src in sorted(kodak.glob("*.json")):
        stem = src.stem
        if stem.startswith("compressai-"):
            if not stem.endswith("_mse_cuda"):
                continue
            name = stem[: -len("_mse_cuda")]
        else:
            name = "compressai-" + stem.split("_")[0]
        data = json.loads(src.read_text())["results"]
        if "bpp" not in data or "psnr-rgb" not in data:
            continue
        curve = {"name": name, "dataset": "kodak", "bpp": data["bpp"], "psnr": data["psnr-rgb"],
                 "source_repository": "InterDigitalInc/CompressAI",
                 "source_file": f"results/image/kodak/{src.name}",
                 "description": "CompressAI published Kodak results; RGB PSNR, mean bpp"}
        if data.get("ms-ssim-rgb"):
            curve["ms_ssim_db"] = [ms_ssim_db(v) for v in data["ms-ssim-rgb"]]
        written.append(_write(out, curve))
    return written


def vtm18_qps(raw: dict, data: dict, rel: str) -> list[int]:
    """The QP of each point of a VTM-18.0 curve of lossy-vae: the file's ``quality`` list (Tecnick),
    else QP 15..50 in file order (the Kodak file has no list; its 36 points are QP 15..50, as the
    repository describes them and as their rates, falling point after point, confirm)."""
    qps = raw.get("quality") or data.get("quality") or list(VTM18_QPS)
    if len(qps) != len(data["bpp"]) or list(qps) != list(VTM18_QPS):
        raise SystemExit(f"{rel}: expected the 36 QPs 15..50, found {len(data['bpp'])} points, QPs {qps}")
    if any(later >= earlier for earlier, later in zip(data["bpp"], data["bpp"][1:])):
        raise SystemExit(f"{rel}: rates do not fall as the QP rises; the QP of each point is not known")
    return [int(q) for q in qps]


def parse_lic_tcm(text: str) -> list[dict]:
    """Curves from LIC-TCM's RD_data.md: ``# Large`` / ``## Kodak`` headings, ``PSNR = [...]``, ``Bitrate = [...]``."""
    curves, size, dataset, values = [], None, None, {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("## "):
            dataset, values = LIC_TCM_DATASETS[line[3:].strip()], {}
        elif line.startswith("# "):
            size = line[2:].strip().lower()
        elif "=" in line:
            key, _, rhs = line.partition("=")
            values[key.strip()] = json.loads(rhs)
            if {"PSNR", "Bitrate"} <= set(values):
                curves.append({
                    "name": f"lic-tcm-{size}-paper", "dataset": dataset,
                    "bpp": values["Bitrate"], "psnr": values["PSNR"],
                    "source_repository": LIC_TCM_COMMIT, "source_file": "RD_data.md",
                    "description": f"LIC-TCM {size} (MSE-optimised) RD points published by the authors; "
                                   "RGB PSNR, mean bpp",
                })
                values = {}
    return curves


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared_reference", type=Path, help="the raw published files, e.g. ../shared/reference")
    parser.add_argument("--out", type=Path, default=REFERENCE_DIR, help=f"where to write the curves [{REFERENCE_DIR}]")
    args = parser.parse_args(argv)
    if not (args.shared_reference / "rd").is_dir():
        parser.error(f"{args.shared_reference} has no rd/ folder of published results")
    for path in build_from_shared(args.shared_reference, args.out):
        print(path)


if __name__ == "__main__":
    main()
