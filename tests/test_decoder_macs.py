"""Decoder MACs per pixel (rdbench.run.complexity.decoder): calibrated against DeepMind C3's
``macs_per_pixel`` for CompressAI's models, stored with each complexity point, shown by
`rdbench complexity`, and empty (with a reason) rather than wrong."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
import torch
from helpers import rdbench

from rdbench.run.complexity import count_forward
from rdbench.store.record import ComplexityPoint
from rdbench.store.sqlite import MIGRATIONS, Store

KODAK_SHAPE = (1, 3, 512, 768)
KODAK_PIXELS = 512 * 768


def kodak_decoder_macs(model: torch.nn.Module) -> float:
    count = count_forward(model.eval(), torch.empty(KODAK_SHAPE, device="meta"))
    assert count.method == "meta" and count.decoder_missing is None, count
    return count.decoder_macs_per_px(KODAK_PIXELS)


@pytest.mark.slow
@pytest.mark.parametrize("build, c3", [
    # C3 baselines/kodak.py: cheng2020-anchor's min and max are its two widths (qualities 1-3, 4-6)
    (lambda models: models.Cheng2020Anchor(N=128), 260_286),
    (lambda models: models.Cheng2020Anchor(N=192), 583_058),
    (lambda models: models.ScaleHyperprior(N=128, M=192), 43_542),  # bmshj2018-hyperprior, q1-5
    (lambda models: models.JointAutoregressiveHierarchicalPriors(N=192, M=192), 107_930),  # mbt2018, q1-4
    (lambda models: models.JointAutoregressiveHierarchicalPriors(N=192, M=320), 139_638),  # mbt2018, q5-8
], ids=["cheng2020-anchor-N128", "cheng2020-anchor-N192", "bmshj2018-hyperprior", "mbt2018-M192", "mbt2018-M320"])
def test_matches_c3_on_compressai_models_at_kodak_size(build, c3):
    """C3's figures are these counts with the fraction dropped (z's likelihood included)."""
    from compressai import models

    torch.manual_seed(0)
    value = kodak_decoder_macs(build(models))
    assert math.floor(value) == c3, value


def test_meta_count_equals_a_real_forward_entropy_bottleneck_included():
    """On meta the entropy bottleneck runs its likelihood only: the same FLOPs as a real forward."""
    from compressai.models import ScaleHyperprior
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = ScaleHyperprior(N=32, M=48).eval()
    x = torch.rand(1, 3, 128, 128)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    meta = count_forward(model, x)
    assert meta.method == "meta" and meta.flops == counter.get_total_flops()
    encoder = FlopCounterMode(display=False)
    with torch.no_grad(), encoder:
        model.h_a(model.g_a(x))
    assert meta.decoder_flops == counter.get_total_flops() - encoder.get_total_flops()


class NoAnalysis(torch.nn.Module):
    """A model whose encoder has another name: its split cannot be known."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.decoder = torch.nn.ConvTranspose2d(8, 3, 5, stride=2, padding=2, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class UnusedHyperAnalysis(NoAnalysis):
    """Has g_a and h_a, but its forward runs h_a's layer directly (h_a's hooks never fire)."""

    def __init__(self) -> None:
        super().__init__()
        self.g_a = self.encoder
        self.h_a = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.h_a[0](self.g_a(x)))


def test_a_model_without_a_recognisable_encoder_gets_no_figure_but_a_reason():
    count = count_forward(NoAnalysis(), torch.empty(1, 3, 32, 32))
    assert count.flops > 0 and count.decoder_flops is None and count.decoder_macs_per_px(32 * 32) is None
    assert "no g_a" in count.decoder_missing
    count = count_forward(UnusedHyperAnalysis(), torch.empty(1, 3, 32, 32))
    assert count.decoder_flops is None and "never called h_a" in count.decoder_missing


def test_a_hyperprior_without_h_a_gets_no_figure_and_a_factorized_prior_counts_all_but_g_a():
    from compressai.models import FactorizedPrior, ScaleHyperprior

    hyperprior = ScaleHyperprior(N=32, M=48)
    hyperprior.hyper_analysis = hyperprior.h_a  # the same layers under another name
    del hyperprior.h_a
    hyperprior.forward = lambda x: hyperprior.g_s(hyperprior.hyper_analysis(hyperprior.g_a(x)))
    assert "no h_a" in count_forward(hyperprior, torch.empty(1, 3, 64, 64)).decoder_missing
    factorized = count_forward(FactorizedPrior(N=32, M=48).eval(), torch.empty(1, 3, 64, 64))
    assert factorized.decoder_missing is None and 0 < factorized.decoder_flops < factorized.flops


@pytest.mark.slow
def test_cli_prints_stores_and_reports_decoder_macs(tmp_path):
    db = tmp_path / "r.sqlite"
    args = ("complexity", "--codec", "bmshj2018-hyperprior-random", "--sizes", "64,128", "--flops-only",
            "--in-process", "--db", db)
    result = rdbench(*args, "--format", "json", in_process=True, check=True)
    rows = json.loads(result.stdout)
    assert [r["width"] for r in rows] == [64, 128]
    assert all(math.floor(r["decoder_macs_per_px"]) == 43_542 for r in rows)  # constant: convolutions only
    assert "decoder 43,542 MACs/px" in result.stderr
    with Store(db) as store:
        assert [math.floor(p.decoder_macs_per_px) for p in store.complexity_points()] == [43_542, 43_542]
    table = rdbench(*args, "--no-store", "--sizes", "64", "--format", "markdown", in_process=True, check=True)
    header, _, row = table.stdout.splitlines()[2:5]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["decoder_macs_per_px"] == "43542.06"


def test_points_stored_before_the_column_read_back_without_a_figure(tmp_path):
    """The migration keeps old points; they have no decoder figure until a rerun fills it in."""
    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    for step in MIGRATIONS[:4]:  # the schema before decoder_macs_per_px (migration 5)
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO complexity (codec, config_hash, quality, device, machine, height, width, pixels, image, "
                 "flops, status, extra) VALUES ('m', 'h', '1', 'cpu', 'x', 64, 64, 4096, 'synthetic', 8e8, 'ok', '{}')")
    conn.commit()
    conn.close()
    with Store(db, readonly=True) as store:  # read through an upgraded copy: the file stays as it was
        (old,) = store.complexity_points()
    assert (old.flops, old.decoder_macs_per_px) == (8e8, None)
    with Store(db) as store:
        (old,) = store.complexity_points()
        assert old.decoder_macs_per_px is None and old.to_json()["decoder_macs_per_px"] is None
        store.add_complexity_points([ComplexityPoint("m", "h", "1", "cpu", "x", 64, 64, 4096, flops=8e8,
                                                     decoder_macs_per_px=5e4)])
        store.add_complexity_points([ComplexityPoint("m", "h", "1", "cpu", "x", 64, 64, 4096, forward_s=0.1)])
        (rerun,) = store.complexity_points()
    assert (rerun.decoder_macs_per_px, rerun.forward_s) == (5e4, 0.1)  # a partial rerun keeps the figure


@pytest.mark.slow
def test_sizes_take_width_x_height_as_published_figures_are_given(tmp_path):
    """``--sizes 768x512`` measures Kodak's shape (C3's and the MLIC papers' size), stored as
    768 wide and 512 high, labelled as typed, and ordered by pixels among square sizes."""
    import json

    db = tmp_path / "c.sqlite"
    result = rdbench("complexity", "--codec", "bmshj2018-hyperprior-random", "--sizes", "768x512,512,1024x1024,768X512",
                     "--flops-only", "--format", "json", "--db", db, in_process=True, check=True)
    rows = json.loads(result.stdout)
    assert [r["size"] for r in rows] == ["512x512", "768x512", "1024x1024"]
    kodak = rows[1]
    assert (kodak["width"], kodak["height"], kodak["pixels"]) == (768, 512, 393216)
    assert int(kodak["decoder_macs_per_px"]) == 43542
    assert "768x512,1024" in result.stderr and "bmshj2018-hyperprior-random 768x512:" in result.stderr
    for bad in ("768x", "768x512x3", "12x512", "big"):
        failed = rdbench("complexity", "--codec", "bmshj2018-hyperprior-random", "--sizes", bad, "--flops-only",
                         "--db", db, in_process=True)
        assert type(failed.exception).__name__ == "UsageError" and "--sizes" in str(failed.exception), bad
