"""Paper output (issue 28): `rdbench bdrate`'s paper tables (chosen columns, display names, value [low,
high] cells, average, best in bold, protocol caption) checked on the rendered LaTeX, markdown and HTML
against the JSON cells; the LaTeX compiled with pdflatex where it is installed (.ci/run installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import rdbench

from rdbench.analysis.paper_table import load_labels, parse_columns, parse_labels
from rdbench.errors import UsageError

HOSTILE = r'MLIC++ & 50% _x_ <b>|$#^~\{}*`[a](b)'
#: a published comparison needing no database: two datasets, one codec with no Tecnick curve
PUBLISHED = ["--anchor", "vtm18-published", "--codec", "mlic-paper,mlicpp-paper,compressai-bmshj2018-hyperprior",
             "--dataset", "kodak,tecnick"]
NUMBER = r"\$(?:\\mathbf\{)?(-?\d+\.\d+)\}?\$"


def _json(*args: object) -> dict:
    return json.loads(rdbench("bdrate", *args, "--format", "json", in_process=True, check=True).stdout)


def _latex_rows(text: str) -> dict[str, str]:
    """Body rows of a LaTeX table: first cell -> the rest of the row."""
    body = text.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    return {line.split(" & ", 1)[0]: line.split(" & ", 1)[1] for line in body.strip().splitlines()}


def test_latex_numbers_equal_the_json_cells(measured_store, tmp_path):
    """Each value and interval end in the LaTeX table is the JSON cell's number, rounded (values to 2
    decimals, interval ends to 1); a display name replaces the codec's; a published codec's missing interval
    and the crops' missing mlicpp-paper curve are footnoted dashes."""
    db, dataset = measured_store.db, measured_store.dataset
    args = ["--anchor", "jpeg", "--codec", "webp,jpeg@cpu,mlicpp-paper", "--dataset", dataset, "--ci", "95",
            "--bootstrap", "400", "--db", db]
    cells = {c["codec"]: c for c in _json(*args)["cells"]}
    latex = rdbench("bdrate", *args, "--format", "latex", "--columns", "value,ci", "--label", "webp=WebP (libwebp)",
                    in_process=True, check=True).stdout
    rows = _latex_rows(latex)
    assert set(rows) == {"WebP (libwebp)", "jpeg@cpu", "mlicpp-paper"}
    for codec, shown in (("webp", "WebP (libwebp)"), ("jpeg@cpu", "jpeg@cpu")):
        numbers = [float(n) for n in re.findall(NUMBER, rows[shown])]
        cell = cells[codec]
        assert numbers == [round(cell["bd_rate"], 2), round(cell["ci_low"], 1), round(cell["ci_high"], 1)], codec
    assert re.match(r"--\\textsuperscript\{\d\} ", rows["mlicpp-paper"])
    assert "mlicpp-paper has no psnr curve" in latex.split(r"\bottomrule")[1]
    # the best (lowest) value of the column is bold, the other not
    best = min(("webp", "jpeg@cpu"), key=lambda c: cells[c]["bd_rate"])
    assert r"\mathbf{" in rows["WebP (libwebp)" if best == "webp" else "jpeg@cpu"]
    assert latex.count(r"\mathbf{") == 1
    caption = re.search(r"\\caption\{(.*)\}", latex).group(1)
    for fact in ("against jpeg", "PSNR", "pchip", "Anchor points", "3 images", "95 \\% paired bootstrap",
                 "400 resamples", "mean over images of per-image bpp and per-image PSNR"):
        assert fact in caption, fact


def test_average_and_best_over_published_curves():
    """--average: the mean of each codec's JSON values over the datasets, only where it has one on every
    dataset (the other says why); the best value of each column is bold in markdown and HTML too."""
    cells = _json(*PUBLISHED)["cells"]
    value = {(c["codec"], c["dataset"]): c["bd_rate"] for c in cells}
    markdown = rdbench("bdrate", *PUBLISHED, "--format", "markdown", "--average", in_process=True, check=True).stdout
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in markdown.splitlines()
            if line.startswith("| ") and "---" not in line}
    for codec in ("mlic-paper", "mlicpp-paper"):
        mean = (value[(codec, "kodak")] + value[(codec, "tecnick")]) / 2
        assert rows[codec][2].strip(" |*") == f"{mean:.2f}"
    assert rows["mlicpp-paper"][0] == f"**{value[('mlicpp-paper', 'kodak')]:.2f}**"
    assert rows["compressai-bmshj2018-hyperprior"][2].startswith("\u2013<sup>")
    assert "compressai-bmshj2018-hyperprior: no average, no value on tecnick" in markdown
    assert "Average: mean over the 2 datasets" in markdown
    html = rdbench("bdrate", *PUBLISHED, "--format", "html", "--average", in_process=True, check=True).stdout
    assert f"<b>{value[('mlicpp-paper', 'tecnick')]:.2f}</b>" in html


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_every_string_is_escaped_for_its_format(tmp_path):
    """A display name full of each format's special characters reaches the reader as text: in LaTeX every
    special escaped (the file compiles, below), in markdown no pipe splits the row, in HTML no tag is made."""
    labels = tmp_path / "labels.toml"
    labels.write_text(f'"mlicpp-paper" = {json.dumps(HOSTILE)}\nkodak = "Kodak"\n', encoding="utf-8")
    common = [*PUBLISHED, "--labels", labels, "--columns", "value,interp,n,overlap,interval"]
    latex = rdbench("bdrate", *common, "--format", "latex", in_process=True, check=True).stdout
    assert r"MLIC++ \& 50\% \_x\_ \textless{}b\textgreater{}\textbar{}\$\#\textasciicircum{}\textasciitilde{}" \
           r"\textbackslash{}\{\}*`[a](b)" in latex
    markdown = rdbench("bdrate", *common, "--format", "markdown", in_process=True, check=True).stdout
    row = next(line for line in markdown.splitlines() if line.startswith("| MLIC"))
    header = next(line for line in markdown.splitlines() if line.startswith("| Codec"))
    assert len(re.split(r"(?<!\\)\|", row)) == len(re.split(r"(?<!\\)\|", header))
    assert r"\<b\>" in row and r"\_x\_" in row and r"\[a\](b)" in row
    html = rdbench("bdrate", *common, "--format", "html", in_process=True, check=True).stdout
    parsed = _Text()
    parsed.feed(html)
    assert HOSTILE in "".join(parsed.text)
    assert "<b>|" not in html and "&lt;b&gt;|" in html
    assert "Kodak" in html and ">kodak<" not in html


def test_the_latex_table_compiles(tmp_path):
    """pdflatex (Debian's texlive-latex-base + texlive-latex-recommended for booktabs, installed by .ci/run)
    compiles the table with hostile names, two heading rows, footnotes and the average, in a plain article."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("no pdflatex (apt-get install texlive-latex-base texlive-latex-recommended, as .ci/run does)")
    latex = rdbench("bdrate", *PUBLISHED, "--format", "latex", "--average", "--columns", "value,interp,n",
                    "--label", f"mlicpp-paper={HOSTILE}", in_process=True, check=True).stdout
    (tmp_path / "table.tex").write_text(latex, encoding="utf-8")
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      "\\input{table.tex}\n\\end{document}\n", encoding="utf-8")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    assert "Undefined control sequence" not in done.stdout and "Missing $" not in done.stdout


def test_paper_options_change_nothing_unless_used():
    """Without a paper option `--format latex` and `--format markdown` print today's table (the golden
    file of tests/test_bd_cells.py holds them); with one, the paper table."""
    plain = rdbench("bdrate", *PUBLISHED, "--format", "latex", in_process=True, check=True).stdout
    assert r"\begin{tabular}" in plain and r"\begin{table}" not in plain and "kodak overlap" in plain
    paper = rdbench("bdrate", *PUBLISHED, "--format", "latex", "--columns", "value", in_process=True, check=True).stdout
    assert r"\begin{table}" in paper and "overlap" not in paper.split(r"\toprule")[1].split(r"\midrule")[0]


def test_bad_paper_options_are_usage_errors(tmp_path):
    """A wrong column, a ci column without --ci, a label without '=', an unreadable or malformed labels file,
    and paper options with a format that is not latex/markdown/html: one-line usage errors (exit 2)."""
    with pytest.raises(UsageError, match="unknown column 'valu'"):
        parse_columns("valu", ci=False)
    with pytest.raises(UsageError, match="ci column"):
        parse_columns("value,ci", ci=False)
    with pytest.raises(UsageError, match="named twice"):
        parse_columns("value,value", ci=False)
    assert parse_columns("ci,value", ci=True) == ("value", "ci")
    with pytest.raises(UsageError, match="NAME="):
        parse_labels(["mlicpp-paper"])
    bad = tmp_path / "labels.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(UsageError, match="display name"):
        load_labels(bad)
    bad.write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_labels(bad)
    with pytest.raises(UsageError, match="cannot read"):
        load_labels(tmp_path / "none.toml")
    ran = rdbench("bdrate", *PUBLISHED, "--columns", "value,overlap", "--format", "csv")
    assert ran.returncode == 2 and "latex, markdown or html" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) <= 2 and ran.stdout == ""
