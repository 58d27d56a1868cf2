"""Inputs that used to give silent wrong numbers are checked before anything is stored.

* ``--quality`` (and a configuration's ``qualities``) against the range each adapter declares
  (:class:`rdbench.codecs.base.QualityDomain`): text, out-of-range and clamped values are usage
  errors, and two spellings of one point are one stored quality.
* Reading commands open a database in a read-only folder (SQLite's own read-only detection,
  reproduced as root by dropping the capabilities that let root ignore file modes), and a
  file that is not SQLite is named as such, not as a permission problem.
* ``render``: notes after a markdown table are not table rows, NaN cells carry their footnote
  marker, LaTeX specials and markdown pipes are escaped; counts agree with their noun.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fault_codecs import make_images, write_codec
from helpers import REPO, copy_database, rdbench

from rdbench.cli.formatting import render
from rdbench.codecs.registry import SHIPPED_CODECS_DIR, load_adapter, load_configs
from rdbench.errors import UsageError

TESTS = Path(__file__).resolve().parent


# -- 4. --quality is checked -------------------------------------------------------------------

#: (codec, --quality value, words the error must hold: the valid range)
REFUSED = [
    ("jpeg", "abc", "a whole number from 1 to 100"),
    ("jpeg", "-5", "a whole number from 1 to 100"),  # libjpeg clamps to 1
    ("jpeg", "0", "a whole number from 1 to 100"),  # libjpeg clamps to 1
    ("jpeg", "1000", "a whole number from 1 to 100"),  # imagecodecs clamps to 100
    ("jpeg", "50.5", "a whole number from 1 to 100"),  # truncated to 50
    ("jpeg444", "101", "a whole number from 1 to 100"),
    ("pillow-jpeg", "0", "a whole number from 1 to 100"),
    ("webp", "-1", "a number from 0 to 100"),  # imagecodecs: negative means lossless
    ("webp", "100.5", "a number from 0 to 100"),  # clamped to 100
    ("webp", "nan", "a number from 0 to 100"),
    ("jpeg2000", "0.5", "a number from 1 to 1000"),  # below 1 means lossless in imagecodecs
    ("jpeg2000", "1001", "a number from 1 to 1000"),
    ("jpegxl", "50", "0, or a number from 0.01 to 25"),  # the "distance 50"
    ("jpegxl", "0.005", "0, or a number from 0.01 to 25"),  # libjxl raises it to 0.01
    ("avif", "101", "a whole number from 0 to 100"),
    ("avif", "50.5", "a whole number from 0 to 100"),
    ("cjxl", "26", "0, or a number from 0.01 to 25"),
    ("avifenc", "64", "a whole number from 0 to 63"),
    ("avifenc", "30.5", "a whole number from 0 to 63"),
    ("x265-444", "52", "a whole number from 0 to 51"),
    ("x265-444", "-1", "a whole number from 0 to 51"),
    ("vtm17", "64", "a whole number from 0 to 63"),
    ("vtm17", "inf", "a whole number from 0 to 63"),
    ("mlicpp", "7", "one of 1, 2, 3, 4, 5, 6"),
    ("mlicpp-2024", "3", "one of 5"),
    ("mlic", "0", "a whole number from 1 to 6"),
    ("mlicplus", "7", "a whole number from 1 to 6"),
    ("mlic-random", "2", "one of 1"),  # seeded weights do not depend on the index
    ("bmshj2018-factorized-mse", "9", "a whole number from 1 to 8"),
    ("cheng2020-anchor-mse", "7", "a whole number from 1 to 6"),
    ("mbt2018-mean-random", "0", "a whole number from 1 to 8"),
]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("imgs"), widths=(40, 41))


@pytest.mark.parametrize("codec,value,valid", REFUSED, ids=[f"{c}={v}" for c, v, _ in REFUSED])
def test_a_quality_outside_the_codec_range_is_a_usage_error_before_anything_is_stored(
        images: Path, tmp_path: Path, codec: str, value: str, valid: str) -> None:
    db = tmp_path / "r.sqlite"
    valid_point = load_configs()[codec].qualities[0]  # a valid point before it: still nothing is stored
    result = rdbench("run", "--codec", codec, "--dataset", images, "--quality", f"{valid_point},{value}", "--db", db,
                     "-q", in_process=True)
    assert isinstance(result.exception, UsageError), (result.exception, result.stderr)
    message = str(result.exception)
    assert message.startswith(f"{codec}: quality {value} ") and valid in message and "--quality" in message
    assert not db.exists()


def test_quality_text_exits_2_with_one_line_and_stores_nothing(images: Path, tmp_path: Path) -> None:
    """The issue's case: `--quality abc` stored failed rows (a raw TypeError) in every summary."""
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "abc", "--db", db)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [("error: jpeg: quality abc is not a number; jpeg takes a whole number from 1 to 100 "
                      "(JPEG quality; libjpeg clamps other values to 1 or 100): pass --quality values in that "
                      "range")], result.stderr
    assert not db.exists()


def test_equal_spellings_are_one_quality_point(images: Path, tmp_path: Path) -> None:
    from rdbench.run.selection import checked_qualities

    configs = load_configs()
    assert checked_qualities([configs["jpeg"]], ["50", "50.0", "5e1", " 50 "]).of("jpeg") == ["50"]
    both = checked_qualities([configs["cjxl"], configs["jpegxl"]], ["2.80", "2.8", "1", "1.0"])
    assert both.of("cjxl") == both.of("jpegxl") == ["2.8", "1"]
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "50.0,50", "--db", db, "-q", check=True)
    again = rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "5e1", "--db", db, "-q", check=True)
    assert "nothing to do" in again.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT DISTINCT quality FROM records").fetchall() == [("50",)]


def test_out_of_range_quality_in_a_toml_sweep_names_the_file(images: Path, tmp_path: Path) -> None:
    folder = tmp_path / "codecs"
    folder.mkdir()
    toml = folder / "myjpeg.toml"
    toml.write_text('adapter = "imagecodecs"\nqualities = [50, 0]\n[params]\nformat = "jpeg8"\n')
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "myjpeg", "--dataset", images, "--db", db, in_process=True,
                     env=dict(os.environ, RDBENCH_CODECS_PATH=str(folder)))
    assert isinstance(result.exception, UsageError)
    assert str(result.exception).startswith(f"myjpeg: quality 0 in {toml} is out of range")
    assert not db.exists()


def test_every_shipped_configuration_declares_its_range_and_its_sweep_is_in_it() -> None:
    shipped = [c for c in load_configs().values() if c.source and Path(c.source).parent == SHIPPED_CODECS_DIR]
    assert len(shipped) == len(list(SHIPPED_CODECS_DIR.glob("*.toml")))
    for config in shipped:
        adapter = load_adapter(config.adapter)
        assert adapter.quality_domain_for(config) is not None, config.name
        assert len(adapter.checked_qualities(config)) == len(config.qualities), config.name


def test_an_adapter_without_a_declaration_is_not_checked(images: Path, tmp_path: Path) -> None:
    """Third-party adapters that declare no range keep working: their values pass unchecked."""
    write_codec(tmp_path / "codecs", "theirs", qualities=(50,))
    env = dict(os.environ, RDBENCH_CODECS_PATH=str(tmp_path / "codecs"),
               PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p))
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "theirs", "--dataset", images, "--quality", "1000,50.0", "--db", db, "-q",
            env=env, check=True)
    with sqlite3.connect(db) as conn:
        assert sorted(conn.execute("SELECT DISTINCT quality FROM records").fetchall()) == [("1000",), ("50",)]


def test_complexity_checks_the_quality_too(tmp_path: Path) -> None:
    result = rdbench("complexity", "--codec", "jpeg", "--quality", "1000", "--sizes", "64", "--db",
                     tmp_path / "r.sqlite", "--in-process", in_process=True)
    assert isinstance(result.exception, UsageError), (result.exception, result.stdout)
    assert "jpeg: quality 1000 is out of range" in str(result.exception)
    assert not (tmp_path / "r.sqlite").exists()


def test_quality_domain_rules() -> None:
    from rdbench.codecs.base import QualityDomain

    domain = QualityDomain("int", 1, 100, meaning="JPEG quality")
    assert domain.canonical(50.0) == 50 and isinstance(domain.canonical(50.0), int)
    assert domain.describe() == "a whole number from 1 to 100 (JPEG quality)"
    for bad in (True, "abc", 0, 101, 50.5, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            domain.canonical(bad)
    distance = QualityDomain("float", 0.01, 25, also=(0,))
    assert [distance.canonical(v) for v in (0, 0.01, 25, "2.80")] == [0, 0.01, 25, 2.8]
    with pytest.raises(ValueError):
        distance.canonical(0.005)
    assert QualityDomain("int", values=(5,)).describe() == "one of 5"


def _encoded(encode, image, **kwargs) -> bytes:
    return bytes(encode(image, **kwargs))


def test_declared_ranges_are_where_the_libraries_stop_distinguishing_values() -> None:
    """The facts the declarations rest on: just outside each range the library clamps (same
    bytes as the bound) or switches mode; inside, neighbouring values are distinct points."""
    imagecodecs = pytest.importorskip("imagecodecs")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:96, 0:96]
    image = np.clip(np.stack([xx * 2, yy * 2, xx + yy], axis=2) + rng.integers(-30, 31, (96, 96, 3)), 0, 255)
    image = image.astype(np.uint8)

    def jpeg(q):
        return _encoded(imagecodecs.jpeg8_encode, image, level=q)

    assert jpeg(0) == jpeg(1) == jpeg(-5) != jpeg(2) and jpeg(1000) == jpeg(100) != jpeg(99)
    assert jpeg(50.5) == jpeg(50)

    def webp(q):
        return _encoded(imagecodecs.webp_encode, image, level=q, method=6, lossless=False, numthreads=1)

    assert webp(101) == webp(100) and webp(0) != webp(0.5) and webp(50.5) != webp(50)

    def jxl(d):
        return _encoded(imagecodecs.jpegxl_encode, image, distance=d, effort=7, numthreads=1)

    assert jxl(50) == jxl(25) != jxl(24.5) and jxl(0.005) == jxl(0.01) != jxl(0)

    def avif(q):
        return _encoded(imagecodecs.avif_encode, image, level=q, speed=6, pixelformat="444", codec="aom",
                        numthreads=1)

    assert avif(1000) == avif(100) and avif(50.5) == avif(50)

    from PIL import Image

    def pillow_jpeg(q):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=q, subsampling=2, optimize=True)
        return buffer.getvalue()

    assert pillow_jpeg(0) == pillow_jpeg(1) != pillow_jpeg(2) and pillow_jpeg(101) == pillow_jpeg(100)


# -- 8. read-only folders, and files that are not databases -------------------------------------

_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _obey_file_modes() -> None:
    """``preexec_fn``: the child (and what it execs) loses the capabilities that let root ignore
    file modes, so a 0o555 folder is read-only to it as to any user."""
    if os.geteuid() == 0:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


@pytest.fixture()
def read_only_folder(tmp_path: Path):
    """A folder to fill, then lock with :func:`_lock` (0o555, checked unwritable for a child run
    with ``_obey_file_modes``); unlocked again afterwards."""
    folder = tmp_path / "archive"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)  # so pytest can remove it


def _lock(folder: Path) -> None:
    folder.chmod(0o555)
    probe = subprocess.run([sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"],
                           preexec_fn=_obey_file_modes, capture_output=True, check=False)
    if probe.returncode == 0:
        (folder / "probe").unlink()
        pytest.skip("cannot make a folder read-only here (root keeps CAP_DAC_OVERRIDE)")


@pytest.fixture(scope="module")
def measured_db(measured_store) -> Path:
    return measured_store.db


READERS = [
    ("results", "--format", "json"),
    ("results", "--per-image", "--format", "csv"),
    ("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", "{dataset}", "--format", "json"),
    ("export", "--codec", "jpeg", "--dataset", "{dataset}"),
    ("plot", "--codec", "jpeg,webp", "--dataset", "{dataset}", "--out", "{plots}"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args", READERS, ids=[a[0] + ("-per-image" if "--per-image" in a else "") for a in READERS])
def test_reading_commands_work_on_a_database_in_a_read_only_folder(measured_db: Path, read_only_folder, tmp_path,
                                                                  args) -> None:
    folder = read_only_folder
    db = folder / "rd.sqlite"
    dataset = copy_database(measured_db, db)  # the database alone: no -wal or -shm beside it
    _lock(folder)
    argv = [a.format(plots=tmp_path / "plots", dataset=dataset) for a in args]
    result = rdbench(*argv, "--db", db, preexec_fn=_obey_file_modes)
    assert result.returncode == 0, result.stderr
    assert "readonly" not in result.stderr and "read-only" not in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["rd.sqlite"]  # nothing written beside it
    if argv[0] == "results" and "json" in argv:
        assert sum(row["n"] for row in json.loads(result.stdout)) == 24  # 2 codecs x 4 qualities x 3 images


def test_records_left_in_the_wal_by_a_killed_run_are_read_in_a_read_only_folder(measured_db: Path,
                                                                               read_only_folder) -> None:
    """A run killed with -9 leaves records in the -wal file; reading must see them, not an older
    snapshot of the main file (what SQLite's immutable mode would silently give)."""
    folder = read_only_folder
    db = folder / "rd.sqlite"
    copy_database(measured_db, db)
    writer = ("import os, sqlite3, sys\n"
              "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
              "conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
              "conn.execute(\"DELETE FROM records WHERE codec = 'webp'\")\n"
              "os._exit(0)\n")  # like kill -9: no checkpoint, the -wal file stays
    subprocess.run([sys.executable, "-c", writer, str(db)], check=True)
    (folder / "rd.sqlite-shm").unlink()
    assert (folder / "rd.sqlite-wal").stat().st_size > 0
    _lock(folder)
    result = rdbench("results", "--db", db, "--format", "json", preexec_fn=_obey_file_modes)
    assert result.returncode == 0, result.stderr
    assert {row["codec"] for row in json.loads(result.stdout)} == {"jpeg"}


NOT_A_DATABASE = ["text", "random", "other-sqlite"]


def _bad_file(path: Path, kind: str) -> Path:
    if kind == "text":
        path.write_text("codec,quality,bpp\njpeg,50,1.2\n" * 40)
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    else:  # an SQLite file of some other program
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE photos (name TEXT)")
        conn.close()
    return path


@pytest.mark.parametrize("kind", NOT_A_DATABASE)
@pytest.mark.parametrize("command", ["results", "run"])
def test_a_file_that_is_not_a_results_database_is_named_as_such(images: Path, tmp_path: Path, command: str,
                                                                kind: str) -> None:
    db = _bad_file(tmp_path / "notes.sqlite", kind)
    before = db.read_bytes()
    args = ["--dataset", images, "--codec", "jpeg", "--quality", "50", "-q"] if command == "run" else []
    result = rdbench(command, *args, "--db", db)
    assert result.returncode == 1, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [(
        f"error: {db} is not an rdbench results database ("
        + ("an SQLite database of another program, with tables photos" if kind == "other-sqlite" else "not SQLite")
        + "); pass --db with an rdbench results file, or a new file name")]
    assert "Traceback" not in result.stderr and "writable" not in result.stderr
    assert db.read_bytes() == before


def test_an_empty_file_reads_as_no_results_not_as_an_old_schema(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite"
    db.touch()
    result = rdbench("results", "--db", db)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {db} holds no rdbench results yet (an empty file); "
                                     f"`rdbench run ... --db {db}` fills it")


# -- formatting -----------------------------------------------------------------------------------

ROWS = [{"codec": "my_codec", "kodak": -14.4, "clic": float("nan")},
        {"codec": "a&b", "kodak": float("nan"), "clic": 3.0}]
MARKS = [{"clic": 1}, {"kodak": 2}]
NOTES = ["anchor vtm_18: kodak: published, file a_b.json", "[1] anchor has no psnr curve on clic",
         "[2] a&b on kodak: 100% {odd} #1 $x ~y ^z \\w"]


def test_markdown_notes_follow_the_table_as_paragraphs_not_rows() -> None:
    out = render(ROWS, ["codec", "kodak", "clic"], "markdown", title="BD-rate (%)", marks=MARKS, notes=NOTES)
    blocks = out.split("\n\n")
    assert blocks[0] == "**BD-rate (%)**"
    table = blocks[1].splitlines()
    assert len(table) == 4 and all(line.startswith("|") and line.endswith("|") for line in table)
    assert table[2] == "| my_codec | -14.4000 | nan [1] |"
    assert table[3].split(" | ")[1] == "nan [2]"
    assert blocks[2:] == NOTES  # each note its own paragraph, none glued to the table


def test_nan_cells_carry_their_footnote_marker_in_every_human_format() -> None:
    for fmt in ("table", "markdown", "latex"):
        out = render(ROWS, ["codec", "kodak", "clic"], fmt, marks=MARKS)
        assert "nan [1]" in out and "nan [2]" in out, fmt
    table = render(ROWS, ["codec", "kodak", "clic"], "table", marks=MARKS).splitlines()
    assert table[2].endswith(" nan [1]") and table[3].index("nan [2]") > table[3].index("a&b")  # right-aligned
    assert json.loads(render(ROWS, ["codec", "clic"], "json", marks=MARKS))[0]["clic"] is None


def test_latex_escapes_every_special_in_cells_headers_and_notes() -> None:
    out = render(ROWS, ["codec", "kodak", "clic"], "latex", title="BD-rate (%) vs vtm_18", marks=MARKS,
                 notes=NOTES, headers={"clic": "clic_pro"})
    body, _, after = out.partition("\\end{tabular}")
    assert "my\\_codec" in body and "a\\&b" in body and "clic\\_pro" in body
    assert after.startswith("\n\n")
    paragraphs = after.strip("\n").split("\n\n")
    assert paragraphs[0] == "anchor vtm\\_18: kodak: published, file a\\_b.json"
    assert paragraphs[2] == ("[2] a\\&b on kodak: 100\\% \\{odd\\} \\#1 \\$x \\textasciitilde{}y "
                             "\\textasciicircum{}z \\textbackslash{}w")
    assert out.startswith("% BD-rate (%) vs vtm_18\n")  # the title (with its unit) as a comment


def test_every_table_escapes_as_the_paper_tables_do() -> None:
    """One escape per format (:mod:`rdbench.analysis.text_escape`): ``--format latex`` also writes ``< > |`` as
    text commands (OT1 would print them as other glyphs: the interpolation note's ``|value|`` came out as
    dashes), and markdown cells escape ``* ` < [`` and an underscore that could start emphasis, not one
    inside a word."""
    from rdbench.analysis import text_escape

    rows = [{"codec": "a<b>|c", "note": "_x_ *y* `z` [l](u) ci_low"}]
    latex = render(rows, None, "latex", notes=["[1] |value| < 1"])
    assert r"a\textless{}b\textgreater{}\textbar{}c" in latex and latex.endswith(r"\textbar{}value\textbar{} \textless{} 1")
    markdown = render(rows, None, "markdown", marks=[{"note": 1}]).splitlines()[2]
    assert markdown == r"| a\<b\>\|c | \_x\_ \*y\* \`z\` \[l\](u) ci_low [1] |"
    assert all(text_escape.markdown(rows[0][k]) in markdown for k in rows[0])


def test_markdown_cells_keep_pipes_from_splitting_columns() -> None:
    out = render([{"codec": "x265", "error": "ffmpeg exited with status 1: a | b"}], None, "markdown")
    assert out.splitlines()[2] == "| x265 | ffmpeg exited with status 1: a \\| b |"


def test_plural() -> None:
    from rdbench.errors import plural

    assert [plural(n, "point") for n in (0, 1, 2)] == ["0 points", "1 point", "2 points"]
    assert plural(1, "quality", "qualities") == "1 quality" and plural(3, "quality", "qualities") == "3 qualities"


def test_bdrate_markdown_output_is_one_table_then_notes() -> None:
    result = rdbench("bdrate", "--anchor", "vtm18-published", "--codec", "mlicpp-paper,compressai-jpeg",
                     "--dataset", "kodak,clic-pro-valid", "--format", "markdown", "--db", REPO / "no-such.sqlite",
                     in_process=True, check=True)
    blocks = result.stdout.strip().split("\n\n")
    table = blocks[1].splitlines()
    assert len(table) == 4 and all(line.startswith("|") for line in table)
    assert all(line.endswith("| nan [1] | nan [1] |") for line in table[2:])
    assert blocks[2].startswith("anchor vtm18-published: ") and blocks[3].startswith("[1] anchor vtm18-published")


def test_zoo_ranges_are_the_zoo_models() -> None:
    """The range written out in the adapter (no compressai import needed) is the zoo's own."""
    pytest.importorskip("compressai")
    from compressai.zoo.image import cfgs

    from rdbench.codecs.learned.compressai_zoo import (
        ARCHS,
        METRICS,
        CompressAIZooCodec,
        zoo_qualities,
    )

    for arch in ARCHS:
        indices = tuple(range(1, CompressAIZooCodec.ZOO_MAX_QUALITY[arch] + 1))
        assert tuple(sorted(cfgs[arch])) == indices, arch  # the seeded configurations build these
        for metric in METRICS:
            assert zoo_qualities(arch, metric) == indices, (arch, metric)


def test_a_database_of_an_older_schema_is_read_in_a_read_only_folder_without_writing_it(read_only_folder) -> None:
    """Reading commands upgrade a copy in memory; the file (maybe in an archive) is not touched."""
    from rdbench.store.sqlite import MIGRATIONS

    folder = read_only_folder
    db = folder / "old.sqlite"
    older = len(MIGRATIONS) - 1
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for step in MIGRATIONS[:older]:
        conn.executescript(step)
    conn.execute(f"PRAGMA user_version = {older}")
    conn.execute("INSERT INTO records (codec, config_hash, quality, dataset, image, image_hash, height, width, "
                 "num_bytes, bpp, mse, psnr, ms_ssim, ms_ssim_db, encode_s, decode_s, peak_mem_bytes, device, status) "
                 "VALUES ('jpeg', 'h', '50', 'kodak', 'kodim01.png', 'x', 512, 768, 73728, 1.5, 32.7, 33.0, 0.97, "
                 "15.2, 0.01, 0.01, 1000, 'cpu', 'ok')")
    conn.close()
    before = db.read_bytes()
    _lock(folder)
    result = rdbench("results", "--db", db, "--format", "json", preexec_fn=_obey_file_modes)
    assert result.returncode == 0, result.stderr
    assert [(r["codec"], r["quality"], r["bpp"]) for r in json.loads(result.stdout)] == [("jpeg", "50", 1.5)]
    assert db.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["old.sqlite"]
