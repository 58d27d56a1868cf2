"""`rdbench metrics` lists every metric a command accepts (built-in, the shipped JPEG AI set, plug-ins
declared by TOML), with its sets and whether it can be measured here: VMAF is listed with the reason
it is not, as `rdbench codecs` lists a codec without its binary."""

from __future__ import annotations

import json

from declared_metrics import declare
from helpers import rdbench

from rdbench import metric_spec


def test_every_metric_is_listed_with_its_sets_and_availability(tmp_path):
    env = declare(tmp_path / "metrics")
    ran = rdbench("metrics", "--format", "json", env=env, check=True)
    rows = {row["metric"]: row for row in json.loads(ran.stdout)}
    assert {"psnr", "ms-ssim", *metric_spec.SHIPPED, "psnr-g", "l1-dist", "sat-db"} <= set(rows)
    assert rows["psnr"]["measured"] == "every run" and rows["psnr-y"]["measured"] == "on request"
    assert set(rows["nlpd"]["sets"].split(",")) == {"jpeg-ai", "jpeg-ai-average"}
    assert rows["nlpd"]["better"] == "lower" and rows["nlpd"]["shown_as"] == "1 - NLPD"
    assert rows["l1-dist"]["better"] == "lower" and rows["l1-dist"]["shown_as"].startswith("1 - L1")
    for name, row in rows.items():
        reason = metric_spec.get(name).unavailable_reason() if name in metric_spec.SHIPPED else None
        assert row["available"] == ("no" if reason else "yes") and row["why_not"] == (reason or "")
    assert rows["vmaf"]["available"] == "no" and "vmaf" in rows["vmaf"]["why_not"]
    table = rdbench("metrics", env=env, check=True).stdout
    assert "Not available here (1):" in table and "  vmaf: " in table
