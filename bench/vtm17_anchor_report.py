"""VTM-17.0 Intra on Kodak, measured by rdbench: the anchor table, an independent recomputation
of every number from the kept bitstreams, and BD-rates against the MLIC papers' own figures.

Run after a VTM sweep that kept its bitstreams:

    rdbench run --codec vtm17 --dataset kodak --vtm-dir ~/VTM-17.0 --jobs 2 \\
        --keep-bitstreams runs/vtm-bits --db runs/vtm17.sqlite
    python bench/vtm17_anchor_report.py --db runs/vtm17.sqlite \\
        --vtm-dir ~/VTM-17.0 --images ../shared/datasets/kodak --out bench/results/vtm17_kodak.md

Each record's bitstream is the file its record names (``extra["bitstream"]``, an absolute path:
one file per record, ``<folder>/<dataset>/<codec>-<config hash>/<QP>/<image>.<image hash>.bin``).
If the kept folder was moved since the run, ``--bits NEW_FOLDER`` finds each file there by the same
layout (``rdbench.run.measure.bitstream_path``).

Why each part:

* **Recomputation** shares no code with rdbench's measurement: each ``.bin`` is decoded by
  VTM's ``DecoderApp`` directly, converted from Y'CbCr 4:4:4 BT.709 full range to RGB by
  ffmpeg's swscale (not rdbench's colour code), and PSNR is computed here with plain numpy; bpp
  is the file size. Agreement means the stored figures are what the bitstreams give.
* **BD-rates** of the published MLIC, MLIC+ and MLIC++ Kodak curves against this measured
  anchor are compared with the BD-rates the MLIC authors report against their own VTM-17.0 runs
  (JiangWeibeta/MLIC README): if the anchor is set up as theirs was, the two agree closely.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from rdbench import Store, aggregate, bd_table

#: BD-rate (%) against VTM-17.0 Intra on Kodak published in the JiangWeibeta/MLIC README
#: (benchmark table; also quoted in ../shared/README.md).
PUBLISHED_KODAK_BD_VS_VTM17 = {"mlic-paper": -8.05, "mlicplus-paper": -11.39, "mlicpp-paper": -13.39}


def decode_independently(bitstream: Path, width: int, height: int, vtm_dir: Path, work: Path) -> np.ndarray:
    """DecoderApp -> 8-bit yuv444p -> ffmpeg (BT.709, full range) -> RGB array."""
    decoder = next(p for name in ("DecoderAppStatic", "DecoderApp") if (p := vtm_dir / "bin" / name).is_file())
    yuv, png = work / "out.yuv", work / "out.png"
    subprocess.run([str(decoder), "-b", str(bitstream), "-o", str(yuv), "-d", "8"], check=True,
                   capture_output=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv444p",
                    "-s", f"{width}x{height}", "-i", str(yuv), "-vf",
                    "scale=in_color_matrix=bt709:in_range=full:out_range=full:"
                    "flags=accurate_rnd+full_chroma_int+bitexact,format=rgb24",
                    "-frames:v", "1", str(png)], check=True, capture_output=True)
    return np.asarray(Image.open(png).convert("RGB"))


def plain_psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    mse = np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def kept_bitstream(record, bits: Path | None) -> Path:
    """The file holding ``record``'s bitstream: the one the record names, or, with ``--bits``, the
    same layout under the folder the kept bitstreams were moved to."""
    from rdbench.run.measure import bitstream_path

    stored = record.extra.get("bitstream")
    if bits is not None:
        return bitstream_path(bits, record)
    if not stored:
        raise SystemExit(f"{record.image} QP {record.quality}: the record names no kept bitstream; "
                         "rerun the sweep with --keep-bitstreams DIR")
    if not Path(stored).is_file():
        raise SystemExit(f"{stored} (kept for {record.image} QP {record.quality}) is missing; "
                         "if the kept folder moved, pass --bits NEW_FOLDER")
    return Path(stored)


def recompute(store: Store, bits: Path | None, vtm_dir: Path, images: Path) -> list[str]:
    lines = ["| QP | images | max abs bpp diff | max abs PSNR diff (dB) |", "|---|---|---|---|"]
    by_qp: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for record in store.records(codecs=["vtm17"], status="ok"):
            bitstream = kept_bitstream(record, bits)
            original = np.asarray(Image.open(images / record.image).convert("RGB"))
            decoded = decode_independently(bitstream, record.width, record.height, vtm_dir, Path(tmp))
            rate = 8.0 * bitstream.stat().st_size / (record.height * record.width)
            by_qp.setdefault(record.quality, []).append(
                (abs(rate - record.bpp), abs(plain_psnr(original, decoded) - record.psnr)))
    for qp in sorted(by_qp, key=int, reverse=True):
        diffs = by_qp[qp]
        lines.append(f"| {qp} | {len(diffs)} | {max(d[0] for d in diffs):.3g} | {max(d[1] for d in diffs):.3g} |")
    return lines


def anchor_table(store: Store) -> list[str]:
    rows = [r for r in aggregate(store.records(codecs=["vtm17"])) if r["n"]]
    lines = ["| QP | images | bpp | PSNR (dB) | MS-SSIM | encode s / image | decode s / image |",
             "|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: -int(r["quality"])):
        lines.append(f"| {row['quality']} | {row['n']} | {row['bpp']:.4f} | {row['psnr']:.3f} | {row['ms_ssim']:.5f} "
                     f"| {row['encode_s']:.1f} | {row['decode_s']:.2f} |")
    return lines


def bd_lines(store: Store) -> list[str]:
    codecs = sorted(PUBLISHED_KODAK_BD_VS_VTM17)
    measured = bd_table(store, "vtm17", codecs, ["kodak"])
    vtm18 = {row["codec"]: row["kodak"] for row in bd_table(store, "vtm18-published", codecs, ["kodak"]).rows}
    lines = ["| curve | vs this VTM-17.0 (rdbench) | overlap | published vs the authors' VTM-17.0 | difference | "
             "vs vtm18-published |", "|---|---|---|---|---|---|"]
    for row in measured.rows:
        published = PUBLISHED_KODAK_BD_VS_VTM17[row["codec"]]
        lines.append(f"| {row['codec']} | {row['kodak']:.2f} % | {row['kodak overlap']:.2f} | {published:.2f} % "
                     f"| {row['kodak'] - published:+.2f} | {vtm18[row['codec']]:.2f} % |")
    return lines + [""] + [f"{measured.anchor_info}"] + measured.notes


def write_reference(store: Store, folder: Path) -> Path:
    """The measured anchor as a shipped reference curve (``vtm17-rdbench``), with its provenance."""
    rows = sorted((r for r in aggregate(store.records(codecs=["vtm17"], datasets=["kodak"])) if r["n"]),
                  key=lambda r: r["bpp"])
    if any(r["failed"] or r["n"] != 24 for r in rows):
        raise SystemExit("the reference curve needs all 24 Kodak images ok at every QP")
    first = store.records(codecs=["vtm17"], status="ok")[0]
    curve = {
        "name": "vtm17-rdbench", "dataset": "kodak",
        "bpp": [r["bpp"] for r in rows], "psnr": [r["psnr"] for r in rows],
        "ms_ssim_db": [r["ms_ssim_db"] for r in rows], "qp": [int(r["quality"]) for r in rows],
        "quality": [int(r["quality"]) for r in rows],  # the QP of each point: what --anchor-qualities selects
        "source_repository": f"rdbench @ {first.git_commit} (this repository)",
        "source_file": "bench/results/vtm17_kodak.md",
        "description": (f"VTM-17.0 Intra measured by rdbench (codec vtm17, {first.codec_version}, built from the "
                        "official source tag VTM-17.0): RGB -> Y'CbCr 4:4:4 BT.709 full range 8-bit, "
                        "encoder_intra_vtm.cfg, one frame, QP 47..22; RGB PSNR and MS-SSIM, mean of the 24 "
                        "per-image values"),
    }
    path = folder / "vtm17-rdbench__kodak.json"
    path.write_text(json.dumps(curve, indent=1) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--bits", type=Path, default=None,
                        help="where the run's --keep-bitstreams folder is now, if it moved "
                             "[default: the path each record names]")
    parser.add_argument("--vtm-dir", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="the Kodak folder the run measured")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--reference-dir", type=Path, default=None,
                        help="also write the curve as vtm17-rdbench__kodak.json there (e.g. results/reference)")
    args = parser.parse_args()
    with Store(args.db, readonly=True) as store:
        records = list(store.records(codecs=["vtm17"]))
        first = next(r for r in records if r.ok)
        sections = [
            "# VTM-17.0 Intra on Kodak, measured by rdbench",
            "",
            f"`python bench/vtm17_anchor_report.py --db {args.db}{f' --bits {args.bits}' if args.bits else ''} "
            f"--vtm-dir {args.vtm_dir} "
            f"--images {args.images}`",
            "",
            f"VTM {first.codec_version} built from the official source (tag VTM-17.0, Release, GCC); "
            f"{len(records)} records ({sum(r.ok for r in records)} ok); machine: {platform.machine()}, "
            f"{first.machine}. rdbench {first.rdbench_version} (commit {first.git_commit}). Colour: RGB -> Y'CbCr 4:4:4 BT.709 full range, "
            "8-bit, `encoder_intra_vtm.cfg`, `--ConformanceWindowMode=1`. Times are per image on one core of "
            "a 2-core machine shared with other jobs (upper bounds).",
            "",
            "## Anchor curve (mean of per-image values)",
            "",
            *anchor_table(store),
            "",
            "## Independent recomputation from the kept bitstreams",
            "",
            "DecoderApp -> ffmpeg swscale (BT.709 full range -> RGB) -> numpy PSNR; bpp from the file size.",
            "",
            *recompute(store, args.bits, args.vtm_dir, args.images),
            "",
            "## BD-rate (pchip) of the published MLIC curves against this anchor",
            "",
            *bd_lines(store),
        ]
        if args.reference_dir:
            print(f"wrote {write_reference(store, args.reference_dir)}")
    text = "\n".join(sections) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
