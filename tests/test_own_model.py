"""Your own learned model, plugged in as docs/plugin-learned.md says (issue 27, items 3, 4 and 7).

The documented example package (docs/examples/tinyhp: a small CompressAI ScaleHyperprior behind an
``rdbench.codecs`` entry point) is installed from a temporary copy into a temporary folder (never into
the shared environment) that the ``rdbench`` subprocesses get on ``PYTHONPATH``, exactly as a
researcher's own package would be found. Its checkpoints are seeded random weights saved with
``torch.save``; every number is checked against the model coding the same crops here, outside rdbench.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fault_codecs import write_codec
from helpers import REPO, kodak_crops, rdbench

import rdbench as api

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

EXAMPLE = REPO / "docs" / "examples" / "tinyhp"
SIZE = (0, 0, 96, 80)  # crops: two 64-pixel blocks wide, padded to 128 x 128


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The example package pip-installed (from a copy: the build leaves files behind) into a
    temporary target; returns the environment that finds it through its entry point."""
    root = tmp_path_factory.mktemp("tinyhp")
    shutil.copytree(EXAMPLE, root / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(root / "site"), str(root / "src")], check=True, capture_output=True)
    assert (root / "site" / "tinyhp" / "codec.py").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RDBENCH_")}
    env.update(PYTHONPATH=os.pathsep.join([str(root / "site"), str(REPO)]), OMP_NUM_THREADS="1")
    return env


def save_checkpoint(path: Path, seed: int, gain: float = 8.0):
    """A TinyHyperprior's state_dict with seeded weights (the latent scaled so it codes real symbols);
    returns the state_dict."""
    from compressai.models import ScaleHyperprior

    torch.manual_seed(seed)
    model = ScaleHyperprior(32, 32)  # tinyhp.model.TinyHyperprior's default width: the same keys
    with torch.no_grad():
        model.g_a[-1].weight.mul_(gain)
        model.g_a[-1].bias.mul_(gain)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, path)
    return model.state_dict()


def records(db: Path) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY codec, quality, image, created_at")]


def coded_here(state: dict, image: np.ndarray) -> tuple[int, float]:
    """(bytes, PSNR) of ``image`` coded by the model holding ``state``, with CompressAI directly:
    the example's 12-byte header plus compress()'s strings; the reconstruction rounded to 8 bits."""
    import torch.nn.functional as F
    from compressai.models import ScaleHyperprior

    model = ScaleHyperprior(32, 32)
    model.load_state_dict(state)
    model.update(force=True)
    model.eval()
    height, width = image.shape[:2]
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    x = F.pad(x, (0, -width % 64, 0, -height % 64))
    with torch.inference_mode():
        out = model.compress(x)
        x_hat = model.decompress(out["strings"], out["shape"])["x_hat"]
    pixels = x_hat[0, :, :height, :width].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    mse = np.mean((pixels.astype(np.float64) - image.astype(np.float64)) ** 2)
    return struct.calcsize(">HHHHI") + sum(len(s[0]) for s in out["strings"]), 10 * math.log10(255**2 / mse)


def test_learned_codec_is_public_and_imports_without_torch():
    from rdbench.codecs.base import QualityDomain
    from rdbench.codecs.learned.base import LearnedCodec

    assert {"LearnedCodec", "QualityDomain"} <= set(api.__all__)
    assert api.LearnedCodec is LearnedCodec and api.QualityDomain is QualityDomain
    code = "import sys, rdbench; rdbench.LearnedCodec; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, check=False).returncode == 0


@pytest.mark.slow
def test_plugged_model_measures_its_checkpoint_folder_and_a_retrained_file_gives_new_records(installed, tmp_path):
    """Item 3 and 4: every quality the folder holds runs without --quality (not the class's
    default 1-3); bytes and PSNR are the model's own; a checkpoint written over q1 gives new q1
    records while the old ones are kept; a named quality without a file is reported and counted."""
    from PIL import Image

    crops = kodak_crops(tmp_path / "crops", 2, SIZE)
    ckpt = tmp_path / "ckpt"
    states = {q: save_checkpoint(ckpt / f"tinyhp_q{q}.pth.tar", seed=q, gain=4.0 * q) for q in (1, 2, 3, 4)}
    (ckpt / "tinyhp_qbest.pth.tar").write_bytes(b"not a quality")  # a stray file: not a quality
    (ckpt / "notes.txt").write_text("lr 1e-4")
    db, kept = tmp_path / "rd.sqlite", tmp_path / "kept"

    listed = {r["codec"]: r for r in json.loads(rdbench("codecs", "--format", "json", env=installed).stdout)}
    assert listed["tinyhp"]["source"] == "entry point" and listed["tinyhp"]["qualities"] == "1,2,3"
    assert "--checkpoint-dir" in listed["tinyhp"]["why_not"] and "tinyhp-random" not in listed["tinyhp"]["why_not"]

    first = rdbench("run", "--codec", "tinyhp", "--dataset", crops, "--checkpoint-dir", ckpt, "--db", db,
                    "--keep-bitstreams", kept, "--quiet", env=installed)
    assert first.returncode == 0, first.stderr
    assert "holds checkpoints for qualities 1, 2, 3, 4; running those" in first.stderr
    rows = records(db)
    assert [(r["quality"], r["status"]) for r in rows] == [(q, "ok") for q in "11223344"]
    for row in rows:
        quality = int(row["quality"])
        image = np.array(Image.open(crops / row["image"]).convert("RGB"))
        num_bytes, psnr = coded_here(states[quality], image)
        extra = json.loads(row["extra"])
        assert row["num_bytes"] == num_bytes == Path(extra["bitstream"]).stat().st_size
        assert row["bpp"] == 8 * num_bytes / (row["height"] * row["width"])
        assert row["psnr"] == pytest.approx(psnr, abs=1e-9)
        digest = hashlib.sha256((ckpt / f"tinyhp_q{quality}.pth.tar").read_bytes()).hexdigest()
        assert row["weights"] == f"sha256:{digest}"
    assert len({r["weights"] for r in rows}) == 4

    # retrained: other weights written over q1, under the same name
    retrained = save_checkpoint(ckpt / "tinyhp_q1.pth.tar", seed=11, gain=4.0)
    again = rdbench("run", "--codec", "tinyhp", "--dataset", crops, "--checkpoint-dir", ckpt, "--db", db,
                    "--quiet", env=installed)
    assert again.returncode == 0, again.stderr
    assert "resuming: 6 records already stored" in again.stderr and "nothing to do" not in again.stderr
    q1 = [r for r in records(db) if r["quality"] == "1"]
    assert len(q1) == 4 and len({r["weights"] for r in q1}) == 2, "both weights' records are kept"
    newest = [r for r in q1 if r["weights"] != rows[0]["weights"]]
    image = np.array(Image.open(crops / newest[0]["image"]).convert("RGB"))
    assert newest[0]["num_bytes"] == coded_here(retrained, image)[0]

    # named qualities: the one without a file is reported, the others run (exit 0, the miss counted)
    named = rdbench("run", "--codec", "tinyhp", "--dataset", crops, "--checkpoint-dir", ckpt, "--db", db,
                    "--quality", "1,2,3,4,5,6", "--quiet", env=installed)
    assert named.returncode == 0, named.stderr
    assert "skipping tinyhp" not in named.stderr and "no codec can run" not in named.stderr
    assert "tinyhp quality 5: checkpoint" in named.stderr and "tinyhp_q5.pth.tar is missing" in named.stderr
    assert "2 qualities not run: no checkpoint (tinyhp q=5, tinyhp q=6)" in named.stderr
    assert {r["quality"] for r in records(db)} == {"1", "2", "3", "4"}, "nothing is stored for a missing file"
    save_checkpoint(ckpt / "tinyhp_q5.pth.tar", seed=5)
    added = rdbench("run", "--codec", "tinyhp", "--dataset", crops, "--checkpoint-dir", ckpt, "--db", db,
                    "--quality", "5", "--quiet", env=installed)
    assert added.returncode == 0 and {r["quality"] for r in records(db)} == {"1", "2", "3", "4", "5"}


@pytest.mark.slow
def test_plugged_model_through_a_toml_with_its_checkpoint_folder_in_params(installed, tmp_path):
    """Item 3, the other route: a TOML in RDBENCH_CODECS_PATH names the adapter and the folder
    (``[params] checkpoint_dir``, relative to the TOML); the weights are still known by content."""
    crops = kodak_crops(tmp_path / "crops", 2, SIZE)
    configs = tmp_path / "codecs"
    for q in (1, 2):
        save_checkpoint(configs / "weights" / f"tinyhp-mine_q{q}.pth.tar", seed=q)
    configs.joinpath("tinyhp-mine.toml").write_text(
        'adapter = "tinyhp"\nqualities = [1, 2]\n[params]\nN = 32\nM = 32\ncheckpoint_dir = "weights"\n')
    env = {**installed, "RDBENCH_CODECS_PATH": str(configs)}
    db = tmp_path / "rd.sqlite"
    listed = {r["codec"]: r for r in json.loads(rdbench("codecs", "--format", "json", env=env).stdout)}
    assert listed["tinyhp-mine"]["available"] == "yes", listed["tinyhp-mine"]["why_not"]
    run = ("run", "--codec", "tinyhp-mine", "--dataset", crops, "--db", db, "--quiet")
    assert rdbench(*run, env=env).returncode == 0
    assert "nothing to do" in rdbench(*run, env=env).stderr
    save_checkpoint(configs / "weights" / "tinyhp-mine_q1.pth.tar", seed=21)  # retrained in place
    again = rdbench(*run, env=env)
    assert again.returncode == 0 and "resuming: 2 records already stored" in again.stderr
    rows = records(db)
    assert len(rows) == 6 and len({r["weights"] for r in rows if r["quality"] == "1"}) == 2
    assert all(r["weights"].startswith("sha256:") for r in rows)


@pytest.mark.slow
def test_plain_codec_weights_named_in_params_are_identified_by_content(tmp_path):
    """Item 3, the plain ``Codec`` route: a ``[params]`` entry declared in ``weight_params`` is hashed
    by content, so a file changed in place gives new records instead of "nothing to do"."""
    images = kodak_crops(tmp_path / "crops", 1, (0, 0, 64, 64))
    configs = tmp_path / "codecs"
    write_codec(configs, "weighted", qualities=(40,), adapter="WeightedJpeg", weights="offset.txt")
    (configs / "offset.txt").write_text("0")
    env = {**os.environ, "RDBENCH_CODECS_PATH": str(configs),
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
    db = tmp_path / "rd.sqlite"
    run = ("run", "--codec", "weighted", "--dataset", images, "--db", db, "--quiet")
    assert rdbench(*run, env=env).returncode == 0
    assert "nothing to do" in rdbench(*run, env=env).stderr
    (configs / "offset.txt").write_text("30")
    assert rdbench(*run, env=env).returncode == 0
    rows = records(db)
    assert len(rows) == 2 and len({r["weights"] for r in rows}) == 2 and rows[0]["num_bytes"] != rows[1]["num_bytes"]
    (configs / "offset.txt").unlink()
    missing = rdbench(*run, env=env)
    assert missing.returncode == 0 and "weighted quality 40: checkpoint" in missing.stderr


def test_no_seeded_configuration_is_suggested_unless_it_exists(tmp_path, monkeypatch):
    """Item 7: `rdbench codecs` suggests NAME-random only where that configuration exists."""
    from rdbench.codecs.base import CodecContext
    from rdbench.codecs.registry import SHIPPED_CODECS_DIR, load_adapter, resolve_codecs

    shipped = (SHIPPED_CODECS_DIR / "mlic.toml").read_text()
    (tmp_path / "mymlic.toml").write_text(shipped.replace('name = "mlic"', 'name = "mymlic"'))
    monkeypatch.setenv("RDBENCH_CODECS_PATH", str(tmp_path))
    for name, suggested in (("mlic", "mlic-random"), ("mymlic", None)):
        config = resolve_codecs(name)[0]
        reason = load_adapter(config.adapter).unavailable_reason(config, CodecContext())
        assert "--checkpoint-dir" in reason
        assert ("-random" in reason) == bool(suggested) and (not suggested or suggested in reason)


@pytest.mark.slow
def test_the_documented_plugin_changed_between_runs_keeps_both_versions(tmp_path):
    """Issue 27, items 1 and 2, on the documented example: version 1 runs on two images; a post-filter
    is added to its ``decode_pixels``, the package reinstalled and an image added; the second run
    measures version 2 on all three images (not "nothing to do"), both versions' records are kept,
    and the curve averages version 2 only, over its three images, naming version 1."""
    root = tmp_path / "pkg"
    shutil.copytree(EXAMPLE, root / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))

    def install() -> None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--upgrade", "--target", str(root / "site"), str(root / "src")],
                       check=True, capture_output=True)

    install()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RDBENCH_")}
    env.update(PYTHONPATH=os.pathsep.join([str(root / "site"), str(REPO)]), OMP_NUM_THREADS="1")
    crops = kodak_crops(tmp_path / "crops", 2, SIZE)
    ckpt = tmp_path / "ckpt"
    for q in (1, 2):
        save_checkpoint(ckpt / f"tinyhp_q{q}.pth.tar", seed=q, gain=4.0 * q)
    db = tmp_path / "rd.sqlite"
    run = ("run", "--codec", "tinyhp", "--dataset", crops, "--checkpoint-dir", ckpt, "--db", db, "--quiet")
    assert rdbench(*run, env=env).returncode == 0
    (v1,) = {r["code"] for r in records(db)}
    assert v1.startswith("tinyhp 0.1.0 src:"), v1

    codec = root / "src" / "tinyhp" / "codec.py"
    original = "return self.to_pixels(x_hat, height, width)"
    assert original in codec.read_text()
    codec.write_text(codec.read_text().replace(original, "return self.to_pixels(x_hat * 0.98 + 0.01, height, width)"))
    install()
    kodak_crops(tmp_path / "crops", 3, SIZE)
    second = rdbench(*run, env=env)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" not in second.stderr and "code changed" in second.stderr
    rows = records(db)
    (v2,) = {r["code"] for r in rows} - {v1}
    assert sorted((r["code"], r["quality"]) for r in rows) == sorted([(v1, q) for q in "1122"]
                                                                      + [(v2, q) for q in "111222"])
    before = {(r["quality"], r["image"]): r for r in rows if r["code"] == v1}
    after = {(r["quality"], r["image"]): r for r in rows if r["code"] == v2}
    assert all(before[k]["num_bytes"] == after[k]["num_bytes"] and before[k]["psnr"] != after[k]["psnr"]
               for k in before), "same bitstreams, other decoder: other PSNR"

    frame = json.loads(rdbench("results", "--codec", "tinyhp", "--format", "json", "--db", db, env=env).stdout)
    assert {(r["code"], r["n"]) for r in frame} == {(v1, 2), (v2, 3)}
    script = ("import json, rdbench, sys\n"
              f"with rdbench.Store({str(db)!r}, readonly=True) as store:\n"
              "    (dataset,) = {g['dataset'] for g in store.record_groups()}\n"
              "    s = rdbench.select_measured(store, 'tinyhp', dataset)\n"
              "    print(json.dumps({'points': s.points('psnr'), 'notes': s.notes}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    curve = json.loads(done.stdout)
    expected = [(np.mean([r["bpp"] for k, r in after.items() if k[0] == q]),
                 np.mean([r["psnr"] for k, r in after.items() if k[0] == q])) for q in "12"]
    assert np.allclose(curve["points"], expected, rtol=1e-12, atol=0)
    assert any("versions of its code" in note and v1 in note for note in curve["notes"])
