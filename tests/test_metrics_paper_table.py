"""The paper table over several metrics (the table JPEG AI papers print): `rdbench bdrate --metric a,b
--format latex|markdown|html` with a paper option, and ``rdbench.metrics_paper_table``.

On metrics declared by TOML files (:mod:`declared_metrics`) measured with real JPEG, JPEG 4:4:4 and WebP
on two small Kodak crop datasets: each number of the table is checked against the JSON ``average`` rows
of the same command, a missing metric and a missing average against their footnotes, every string
against its format's escaping, and the LaTeX with pdflatex.
"""

from __future__ import annotations

import json
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest
from declared_metrics import declare
from helpers import compile_latex, kodak_crops, rdbench

import rdbench as api
from rdbench.errors import UsageError

HOSTILE = r'MLIC++ & 50% _x_ <b>|$#^~\{}*`[a](b)'
METRICS = "psnr-g,l1-dist,sat-db"
NUMBER = r"\$(?:\\mathbf\{)?(-?\d+\.\d+)\}?\$"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[dict[str, str], Path, list[str]]:
    """(environment, database, two datasets): jpeg and jpeg444 with the three declared metrics, webp
    without sat-db (so its SAT column and its average are missing), each on two crops of two images."""
    root = tmp_path_factory.mktemp("metrics-paper")
    env = declare(root / "metrics")
    db = root / "rd.sqlite"
    for folder, box in (("crops", (0, 0, 192, 176)), ("crops2", (200, 100, 392, 276))):
        crops = kodak_crops(root / folder, 2, box)
        for codec, metrics in (("jpeg", METRICS), ("webp", "psnr-g,l1-dist"), ("jpeg444", METRICS)):
            rdbench("run", "--codec", codec, "--dataset", crops, "--quality", "20,40,60,80", "--db", db,
                    "--metrics", metrics, "-q", env=env, in_process=True, check=True)
    with sqlite3.connect(db) as conn:
        datasets = sorted(d for (d,) in conn.execute("SELECT DISTINCT dataset FROM records"))
    return env, db, datasets


def _bdrate(store, *args: object, check: bool = True):
    env, db, datasets = store
    return rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp,jpeg444", *args, env=env,
                   in_process=True, check=check)


def _latex_rows(text: str) -> dict[str, str]:
    body = text.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    return {line.split(" & ", 1)[0]: line.split(" & ", 1)[1] for line in body.strip().splitlines()}


def test_latex_numbers_equal_the_json_average_rows(store):
    """Per dataset, each metric's cell is the JSON row's mean of per-image BD-rates and the Average cell
    its ``average``, rounded to 2 decimals, only for the complete row; webp's missing SAT and average are
    footnoted dashes naming the metric; each column's lowest value is bold; the caption says what is
    averaged."""
    _, _, datasets = store
    common = ["--dataset", ",".join(datasets), "--metric", METRICS]
    document = json.loads(_bdrate(store, *common, "--format", "json").stdout)
    rows = {(r["codec"], r["dataset"]): r for r in document["average"]}
    latex = _bdrate(store, *common, "--format", "latex", "--columns", "value", "--label", "webp=WebP").stdout
    assert latex.count(r"\begin{table}") == 1
    assert r"\multicolumn{4}{c}{" + datasets[0] + "}" in latex
    assert "Codec & PSNR-G & L1 & SAT & Average & PSNR-G & L1 & SAT & Average" in latex
    body = _latex_rows(latex)
    jpeg444 = [float(n) for n in re.findall(NUMBER, body["jpeg444"])]
    expected = [round(rows[("jpeg444", d)][k], 2) for d in datasets for k in ("psnr-g", "l1-dist", "sat-db", "average")]
    assert jpeg444 == expected
    assert all(rows[("jpeg444", d)]["complete"] for d in datasets)
    cells = body["WebP"].split(" & ")
    for index, dataset in enumerate(datasets):
        row = rows[("webp", dataset)]
        assert row["complete"] is False
        psnr_g, l1, sat, average = cells[4 * index:4 * index + 4]
        assert [float(n) for n in re.findall(NUMBER, psnr_g + l1)] == [round(row["psnr-g"], 2), round(row["l1-dist"], 2)]
        assert sat.startswith(r"--\textsuperscript{") and average.startswith(r"--\textsuperscript{")
        # lowest value of each column bold: WebP beats JPEG on both metrics it has
        assert psnr_g.startswith(r"$\mathbf{") and not re.search(r"\\mathbf", body["jpeg444"].split(" & ")[4 * index])
    notes = latex.split(r"\bottomrule", 1)[1]
    assert "no average over the 3 metrics: without SAT (no per-image values: the codec WebP has no sat-db curve" in notes
    caption = re.search(r"\\caption\{(.*)\}", latex).group(1)
    for fact in ("against jpeg", "for each image and metric the BD-rate", "pchip", "L1 integrated as 1 - L1",
                 "mean of these BD-rates over the images", "mean of these means over the 3 metrics (PSNR-G, L1, SAT)",
                 f"{datasets[0]}: 2 images", "Aggregation: none, each image's own curve", "image-mean",
                 "Best value per column in bold"):
        assert fact in caption, fact


def test_one_dataset_has_one_heading_row_and_an_unavailable_metric_says_why(store):
    """With one dataset the headings are the metrics and Average; VMAF (unavailable here) is a dash whose
    footnote says so, and the average's footnote names it."""
    from rdbench import metric_spec

    _, _, datasets = store
    reason = metric_spec.unavailable_note("vmaf")
    markdown = _bdrate(store, "--dataset", datasets[0], "--metric", "psnr-g,l1-dist,vmaf", "--format", "markdown",
                       "--columns", "value").stdout
    lines = markdown.splitlines()
    assert "| Codec | PSNR-G | L1 | VMAF | Average |" in lines
    assert f"VMAF: {reason}" in markdown
    assert f"no average over the 3 metrics: without VMAF ({reason})" in markdown
    row = next(line for line in lines if line.startswith("| jpeg444"))
    assert row.split(" | ")[3].startswith("\u2013<sup>") and row.split(" | ")[4].startswith("\u2013<sup>")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []

    def handle_data(self, data):
        self.text.append(data)


def test_every_string_is_escaped(store):
    """A display name of a codec and of a metric full of each format's specials reaches the reader as
    text in LaTeX, markdown (no pipe splits the row) and HTML (no tag made)."""
    _, _, datasets = store
    args = ["--dataset", datasets[0], "--metric", "psnr-g,l1-dist", "--label", f"webp={HOSTILE}", "--label",
            f"l1-dist={HOSTILE}"]
    latex = _bdrate(store, *args, "--format", "latex").stdout
    escaped = (r"MLIC++ \& 50\% \_x\_ \textless{}b\textgreater{}\textbar{}\$\#\textasciicircum{}"
               r"\textasciitilde{}\textbackslash{}\{\}*`[a](b)")
    assert f"{escaped} & " in latex and f"PSNR-G & {escaped} & Average" in latex
    markdown = _bdrate(store, *args, "--format", "markdown").stdout
    header = next(line for line in markdown.splitlines() if line.startswith("| Codec"))
    row = next(line for line in markdown.splitlines() if line.startswith("| MLIC"))
    assert len(re.split(r"(?<!\\)\|", row)) == len(re.split(r"(?<!\\)\|", header)) == 6
    html = _bdrate(store, *args, "--format", "html").stdout
    parsed = _Text()
    parsed.feed(html)
    assert "".join(parsed.text).count(HOSTILE) >= 3  # row, heading, caption
    assert "<b>|" not in html


def test_the_latex_table_compiles(store, tmp_path):
    """pdflatex (as tests/test_paper_output.py: Debian's texlive, installed by .ci/run) compiles the table
    over two datasets, with hostile names and footnotes, and --per-metric's tables after it."""
    _, _, datasets = store
    latex = _bdrate(store, "--dataset", ",".join(datasets), "--metric", METRICS, "--format", "latex", "--per-metric",
                    "--label", f"webp={HOSTILE}", "--label", f"sat-db={HOSTILE}").stdout
    log = compile_latex(latex, tmp_path)
    assert "multiply defined" not in log


def test_per_metric_adds_each_metrics_table(store):
    """--per-metric: the table over metrics, then each metric's own paper table (mean curves, with its
    columns), each with its own LaTeX label."""
    _, _, datasets = store
    args = ["--dataset", datasets[0], "--metric", "psnr-g,l1-dist", "--format", "latex"]
    alone = _bdrate(store, *args, "--columns", "value").stdout
    both = _bdrate(store, *args, "--per-metric", "--columns", "value,interp").stdout
    assert alone.count(r"\begin{table}") == 1 and both.count(r"\begin{table}") == 3
    assert both.startswith(alone)
    labels = re.findall(r"\\label\{([^}]*)\}", both)
    assert labels == ["tab:bd-metrics", "tab:bd-psnr-g", "tab:bd-l1-dist"]
    assert "interp. (pp)" in both


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "psnr-g", "--per-metric"], "--per-metric adds each metric's paper table"),
    (["--metric", "psnr-g,l1-dist", "--per-metric", "--format", "json"], "--per-metric adds each metric's paper table"),
    (["--metric", "psnr-g,l1-dist", "--columns", "value,interp"], "the table over metrics shows one value per metric"),
    (["--metric", "psnr-g,l1-dist", "--columns", "value", "--ci", "95"], "has no bootstrap interval"),
])
def test_options_the_table_over_metrics_cannot_show_are_usage_errors(store, args, message):
    """Refused before anything is read (in process: the UsageError the command raises)."""
    _, _, datasets = store
    fmt = [] if "--format" in args else ["--format", "latex"]
    result = _bdrate(store, "--dataset", datasets[0], *args, *fmt, check=False)
    assert isinstance(result.exception, UsageError) and message in str(result.exception)
    assert result.stdout == ""


def test_a_usage_error_exits_2_with_one_line(store):
    env, db, datasets = store
    result = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--dataset", datasets[0], "--metric", "psnr-g,l1-dist",
                     "--format", "markdown", "--columns", "value,n", env=env)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("error: the table over metrics shows one value per metric")


def test_library_gives_the_same_table(store):
    """``rdbench.metrics_paper_table`` over ``bd_table(..., per_image=True)`` tables renders what the command
    prints; tables without per-image values are refused with the way to make them."""
    env, db, datasets = store
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RDBENCH_METRICS_PATH", env["RDBENCH_METRICS_PATH"])
        with api.Store(db, readonly=True) as st:
            tables = {m: api.bd_table(st, "jpeg", ["webp", "jpeg444"], [datasets[0]], metric=m, per_image=True)
                      for m in ("psnr-g", "l1-dist")}
            plain = {m: api.bd_table(st, "jpeg", ["webp", "jpeg444"], [datasets[0]], metric=m)
                     for m in ("psnr-g", "l1-dist")}
        paper = api.metrics_paper_table(tables, labels={"webp": "WebP"})
        cli = _bdrate(store, "--dataset", datasets[0], "--metric", "psnr-g,l1-dist", "--format", "markdown",
                      "--label", "webp=WebP").stdout
        assert paper.markdown() == cli.rstrip("\n")
        assert [c.text for c in paper.rows[0]][0] == "WebP" and paper.groups[-1] == ("Average", ["Average"])
        with pytest.raises(UsageError, match="no per-image BD-rates") as refused:
            api.metrics_paper_table(plain)
        assert "per_image=True" in refused.value.hint


class _OverMetrics(HTMLParser):
    """The report's table over metrics: per body row its cells' text (without footnote marks) and
    ``data-v``, the footnotes under it and every tag, to prove what the section holds."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str | None]]] = []
        self.notes: list[str] = []
        self.tags: list[str] = []
        self._where: str | None = None
        self._sup = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self.rows[-1].append(["", dict(attrs).get("data-v")])
        elif tag == "li":
            self.notes.append("")
        self._sup = self._sup or tag == "sup"
        self._where = tag if tag in ("td", "th", "li") else self._where

    def handle_endtag(self, tag):
        self._sup = self._sup and tag != "sup"
        if tag in ("td", "th", "li"):
            self._where = None

    def handle_data(self, data):
        if self._where in ("td", "th") and not self._sup:
            self.rows[-1][-1][0] += data
        elif self._where == "li":
            self.notes[-1] += data


def test_report_opens_with_the_table_over_metrics(store, tmp_path):
    """`rdbench report --metric psnr-g,l1-dist,sat-db`: before the per-metric BD parts, the table over
    metrics, whose cells are exactly the JSON ``average`` rows of `bdrate --metric ... --format json`
    (each metric's mean per-image BD-rate and the Average), webp's missing SAT and Average footnoted
    dashes, and a hostile codec label escaped as text."""
    env, db, datasets = store
    common = ["--db", db, "--anchor", "jpeg", "--codec", "webp,jpeg444", "--dataset", ",".join(datasets),
              "--metric", METRICS]
    document = json.loads(rdbench("bdrate", *common, "--format", "json", env=env, in_process=True,
                                  check=True).stdout)
    rows = {(r["codec"], r["dataset"]): r for r in document["average"]}
    out = tmp_path / "report.html"
    rdbench("report", *common, "--label", f"webp={HOSTILE}", "--out", out, env=env, in_process=True, check=True)
    html = out.read_text()
    assert html.index('id="bdrate-metrics"') < html.index('class="bd-part"')
    section = html.split('<section class="over-metrics">', 1)[1].split("</section>", 1)[0]
    parsed = _OverMetrics()
    parsed.feed(section)
    assert HOSTILE not in html and "b" not in parsed.tags  # the label's <b> is text
    assert "MLIC++ &amp; 50% _x_ &lt;b&gt;" in section
    head, *body = parsed.rows
    keys = ("psnr-g", "l1-dist", "sat-db", "average")
    assert [t for t, _ in head] == ["Codec", *(f"{d} {k}" for d in datasets for k in ("PSNR-G", "L1", "SAT", "Average"))]
    shown = {cells[0][0]: cells[1:] for cells in body}
    assert set(shown) == {HOSTILE, "jpeg444"}
    assert [float(v) for _, v in shown["jpeg444"]] == [rows[("jpeg444", d)][k] for d in datasets for k in keys]
    assert [t for t, _ in shown["jpeg444"]] == [f"{rows[('jpeg444', d)][k]:.2f}" for d in datasets for k in keys]
    for index, dataset in enumerate(datasets):
        psnr_g, l1, sat, average = shown[HOSTILE][4 * index:4 * index + 4]
        assert [float(psnr_g[1]), float(l1[1])] == [rows[("webp", dataset)]["psnr-g"], rows[("webp", dataset)]["l1-dist"]]
        assert sat == ["\u2013", ""] and average == ["\u2013", ""] and not rows[("webp", dataset)]["complete"]
    notes = " ".join(parsed.notes)
    assert "no average over the 3 metrics: without SAT (no per-image values" in notes and HOSTILE in notes


def test_report_table_over_metrics_follows_the_averaged_sets():
    """Which metrics the report's table over metrics shows and averages: a named list averages every one
    (as bdrate does), a set its averaged members; unnamed, two members of jpeg-ai's average bring in the
    others (so that a missing VMAF is footnoted), and any other metrics are averaged all."""
    from rdbench import metric_spec
    from rdbench.analysis.report_metrics import over_metrics

    seven = list(metric_spec.AVERAGED["jpeg-ai"])
    assert over_metrics(["psnr", "ms-ssim"]) == (["psnr", "ms-ssim"], ["psnr", "ms-ssim"])
    names, averaged = over_metrics(["psnr", "ms-ssim-y", "vif"])
    assert averaged == seven and names[:3] == ["psnr", "ms-ssim-y", "vif"] and set(names) == {"psnr", *seven}
    jpeg_ai = list(metric_spec.SETS["jpeg-ai"])
    assert over_metrics(jpeg_ai, metric_spec.averaged("jpeg-ai")) == (jpeg_ai, seven)
    assert over_metrics(["ms-ssim-y", "vif"], metric_spec.averaged("ms-ssim-y,vif"))[1] == ["ms-ssim-y", "vif"]
