"""Subprocess codecs with the real Debian binaries (ffmpeg/libx265, avifenc/avifdec, cjxl/djxl).

Covers the machinery of :mod:`rdbench.codecs.external.process` through real tools: no shell (hostile file and
folder names stay inert), per-call time limits that kill the tool, private temporary folders
that vanish on success, failure and timeout, versions read from banners, command lines noted,
and a failing tool becoming a failed record while the run goes on. Each codec test skips with
the package to install when its binaries are absent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import rdbench

from rdbench.codecs.base import CodecContext
from rdbench.codecs.external.colour import rgb_to_ycbcr, ycbcr_to_rgb
from rdbench.codecs.external.process import ToolError, ToolTimeout, run_tool
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.data.images import load_image
from rdbench.errors import CodecUnavailable
from rdbench.run.metrics import bpp, psnr
from rdbench.store.sqlite import Store

#: codec -> "is this a complete bitstream of the format"
MAGIC = {
    "x265-444": lambda b: b[:4] == b"\x00\x00\x00\x01" and (b[4] >> 1) & 0x3F == 32,  # starts with a VPS NAL
    "avifenc": lambda b: b[4:12] == b"ftypavif",
    "cjxl": lambda b: b[:2] == b"\xff\x0a" or b[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n",
}
HOSTILE = "odd dir; $(touch PWNED) `touch PWNED2` && touch PWNED3 'q\" x"


def _codec(name: str, context: CodecContext = CodecContext(), **params):
    (config,) = resolve_codecs(name)
    if params:
        config = dataclasses.replace(config, params={**config.params, **params})
    adapter = load_adapter(config.adapter)
    reason = adapter.unavailable_reason(config, context)
    if reason:
        pytest.skip(f"{name}: {reason}")
    return config, adapter(config, context)


@pytest.fixture()
def private_tmp(tmp_path: Path, monkeypatch) -> Path:
    """Every temporary folder the codecs make goes here (a folder with a hostile name), so a
    test can see that none is left behind and that the name injects nothing."""
    root = tmp_path / HOSTILE
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture(scope="module")
def crop(kodak_dir: Path) -> np.ndarray:
    """A real 96x128 crop of kodim23 (parrots: saturated colours and smooth areas)."""
    return load_image(kodak_dir / "kodim23.png")[200:296, 300:428].copy()


def _no_injection(*folders: Path) -> None:
    for folder in (*folders, Path.cwd()):
        assert not list(folder.rglob("PWNED*")), f"a shell interpreted a file name under {folder}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MAGIC))
def test_round_trip_along_the_sweep(name: str, crop: np.ndarray, private_tmp: Path) -> None:
    """Lowest, middle and highest point of the default sweep: a complete bitstream, the original
    size back, bpp and PSNR rising together, the version and the command lines recorded, and
    nothing left in the temporary folder (whose hostile name injected nothing)."""
    config, codec = _codec(name)
    sweep = list(config.qualities)
    points = []
    for quality in (sweep[0], sweep[len(sweep) // 2], sweep[-1]):
        codec.notes = {}
        data = codec.encode(crop, quality)
        assert MAGIC[name](data), f"{name} q={quality}: not a bitstream of its format: {data[:16]!r}"
        out = codec.decode(data, quality)
        assert out.shape == crop.shape and out.dtype == np.uint8
        points.append((bpp(len(data), *crop.shape[:2]), psnr(crop, out)))
        commands = codec.notes["commands"]
        assert len(commands) == 2 and str(quality) in commands[0]
    rates, psnrs = zip(*points)
    assert list(rates) == sorted(rates) and list(psnrs) == sorted(psnrs), points
    assert psnrs[1] > 25 and psnrs[-1] > 33, points
    library, version = codec.library()
    assert version and "unknown" not in version, (library, version)
    assert list(private_tmp.iterdir()) == []
    _no_injection(private_tmp)


def test_odd_sizes_and_the_exact_10bit_pipeline(crop: np.ndarray, private_tmp: Path) -> None:
    """x265 lossless at 10 bits returns the exact RGB: rdbench's colour conversion is lossless
    at 10 bits and no scaler inside ffmpeg touches the samples. At 8 bits it returns exactly
    the 8-bit Y'CbCr round trip. An odd size (61x45) comes back at its size."""
    _, lossless10 = _codec("x265-444", bit_depth=10, options=["lossless=1"])
    odd = np.ascontiguousarray(crop[:45, :61])
    assert np.array_equal(lossless10.decode(lossless10.encode(odd, 30), 30), odd)
    _, lossless8 = _codec("x265-444", options=["lossless=1"])
    expected = ycbcr_to_rgb(rgb_to_ycbcr(odd, 8), 8)
    assert np.array_equal(lossless8.decode(lossless8.encode(odd, 30), 30), expected)
    _, cjxl = _codec("cjxl")
    assert cjxl.decode(cjxl.encode(odd, 2), 2).shape == odd.shape


def test_hostile_tool_folder_cannot_inject(crop: np.ndarray, tmp_path: Path, private_tmp: Path) -> None:
    """Binaries in a configured folder whose name holds spaces, ';', '$(...)' and quotes run as
    themselves: the path is one argv entry, never shell text."""
    if not (shutil.which("cjxl") and shutil.which("djxl")):
        pytest.skip("cjxl/djxl absent: install Debian's libjxl-tools")
    tools = tmp_path / "tools; $(touch PWNED)"
    tools.mkdir()
    for binary in ("cjxl", "djxl"):
        shutil.copy(shutil.which(binary), tools / binary)
    _, codec = _codec("cjxl", CodecContext(tool_dirs=(("cjxl", str(tools)),)))
    assert codec.paths["cjxl"].parent == tools.resolve()
    out = codec.decode(codec.encode(crop, 2), 2)
    assert psnr(crop, out) > 30
    assert str(tools) in codec.notes["commands"][0]
    _no_injection(tmp_path)


def test_run_tool_reports_exit_status_signal_and_last_output(tmp_path: Path) -> None:
    script = "import sys\nfor i in range(20): print('line', i)\nsys.exit(3)"
    with pytest.raises(ToolError) as failed:
        run_tool([sys.executable, "-c", script], timeout_s=30)
    message = str(failed.value)
    assert "exited with status 3" in message and "line 19" in message and "line 0 " not in message
    assert "\n" not in message
    with pytest.raises(ToolError, match="killed by SIGSEGV"):
        run_tool([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], timeout_s=30)
    with pytest.raises(ToolError, match="cannot start"):
        run_tool([tmp_path / "no-such-tool"], timeout_s=30)


@pytest.mark.slow
def test_timeout_kills_the_tool_group_and_cleans_up(tmp_path: Path, private_tmp: Path) -> None:
    """A tool that outlives its limit is killed with its children; its folder is removed."""
    marker = tmp_path / "child-survived"
    child = f"import time; time.sleep(3); open({str(marker)!r}, 'w')"
    script = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])\nprint('working', flush=True); time.sleep(60)"
    with pytest.raises(ToolTimeout, match=r"ran past its 0.5 s limit.*working"):
        run_tool([sys.executable, "-c", script], timeout_s=0.5)
    # The codec path: a real encode under a limit far too short, through the record machinery.
    config, codec = _codec("x265-444", timeout_s=0.05, preset="veryslow")
    image = np.ascontiguousarray(np.tile(np.arange(256, dtype=np.uint8)[:, None, None], (2, 512, 3)))
    with pytest.raises(ToolTimeout, match="ffmpeg ran past its 0.05 s limit"):
        codec.encode(image, 30)
    assert list(private_tmp.iterdir()) == []
    import time

    time.sleep(3.5)
    assert not marker.exists(), "the tool's child process outlived the timeout"


def test_missing_binary_says_which_package(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    for name, package in (("x265-444", "ffmpeg"), ("avifenc", "libavif-bin"), ("cjxl", "libjxl-tools")):
        (config,) = resolve_codecs(name)
        reason = load_adapter(config.adapter).unavailable_reason(config, CodecContext())
        assert reason and f"apt-get install {package}" in reason, reason
        with pytest.raises(CodecUnavailable, match=package):
            load_adapter(config.adapter)(config, CodecContext())


def test_failing_tool_is_a_failed_record_and_the_run_goes_on(kodak_dir: Path, tmp_path: Path) -> None:
    """`rdbench run` with a broken cjxl configuration and a good one: the broken one's records
    are failed with cjxl's own last words, the good one's are stored, the exit status is 0, and
    --keep-bitstreams keeps files that decode again to the stored numbers."""
    if not (shutil.which("cjxl") and shutil.which("djxl")):
        pytest.skip("cjxl/djxl absent: install Debian's libjxl-tools")
    data = tmp_path / "two images"
    data.mkdir()
    for name in ("kodim04.png", "kodim23.png"):
        image = load_image(kodak_dir / name)[:128, :160]
        from PIL import Image

        Image.fromarray(image).save(data / name)
    configs = tmp_path / "codecs"
    configs.mkdir()
    (configs / "cjxl-broken.toml").write_text(
        'adapter = "cjxl"\nqualities = [2]\n[params]\noptions = ["--effort=42"]\n')
    db, kept = tmp_path / "r.sqlite", tmp_path / "kept"
    env = {**os.environ, "RDBENCH_CODECS_PATH": str(configs)}
    result = rdbench("run", "--codec", "cjxl-broken,cjxl", "--dataset", data, "--quality", "2", "--db", db, "-q",
                     "--keep-bitstreams", kept, env=env)
    assert result.returncode == 0, result.stderr
    with Store(db) as store:
        records = {(r.codec, r.image): r for r in store.records()}
    assert len(records) == 4
    for image in ("kodim04.png", "kodim23.png"):
        broken, good = records[("cjxl-broken", image)], records[("cjxl", image)]
        assert not broken.ok and "cjxl exited with status 1" in broken.error
        assert "Valid range is" in broken.error  # the tool's own message
        assert good.ok and good.codec_version.startswith("v0.")
        assert any("--effort=7" in c for c in good.extra["commands"])
        stored = Path(good.extra["bitstream"])
        assert stored.stat().st_size == good.num_bytes
        (config,) = resolve_codecs("cjxl")
        codec = load_adapter(config.adapter)(config, CodecContext())
        original = load_image(data / image)
        assert psnr(original, codec.decode(stored.read_bytes(), 2)) == pytest.approx(good.psnr)
    assert "failed: cjxl-broken" in result.stderr
    json.dumps([r.extra for r in records.values()])  # extra stays JSON


def test_tool_dies_with_a_killed_rdbench(tmp_path: Path) -> None:
    """kill -9 of the process running a tool takes the tool with it (no orphaned encoder)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal and /proc are Linux features")
    import signal
    import time

    pid_file = tmp_path / "tool.pid"
    tool = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c",
                               f"from rdbench.codecs.external.process import run_tool; import sys; run_tool([sys.executable, '-c', {tool!r}], timeout_s=120)"])
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        tool_pid = int(pid_file.read_text())
        parent.kill()
        parent.wait()
        stat = Path(f"/proc/{tool_pid}/stat")
        for _ in range(100):
            try:
                if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":  # dead, not yet reaped
                    return
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.05)
        os.kill(tool_pid, signal.SIGKILL)
        pytest.fail("the tool outlived rdbench")
    finally:
        parent.kill()
