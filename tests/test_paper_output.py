"""Paper output (issue 28): `rdbench bdrate`'s paper tables (chosen columns, display names, value [low,
high] cells, average, best in bold, protocol caption) checked on the rendered LaTeX, markdown and HTML
against the JSON cells; the LaTeX compiled with pdflatex where it is installed (.ci/run installs it)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from helpers import compile_latex, rdbench

import rdbench as api
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


def test_footnotes_name_codecs_and_datasets_by_their_labels():
    """A footnote's reason names the codec and dataset as the table's rows and headings do (--label), the
    name left alone inside a longer name; the full table keeps the names a reader types."""
    labels = ["--label", "compressai-bmshj2018-hyperprior=Hyperprior", "--label", "tecnick=Tecnick"]
    html = rdbench("bdrate", *PUBLISHED, "--format", "html", "--average", *labels, in_process=True, check=True).stdout
    notes = html.split('<ol class="footnotes">', 1)[1]
    assert "Hyperprior has no psnr curve on Tecnick" in notes
    assert "Hyperprior: no average, no value on Tecnick" in notes
    assert "compressai-bmshj2018-hyperprior" not in notes and "tecnick" not in notes
    full = rdbench("bdrate", *PUBLISHED, in_process=True, check=True).stdout
    assert "compressai-bmshj2018-hyperprior has no psnr curve on tecnick" in full


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
    latex = rdbench("bdrate", *PUBLISHED, "--format", "latex", "--average", "--columns", "value,interp,n",
                    "--label", f"mlicpp-paper={HOSTILE}", in_process=True, check=True).stdout
    compile_latex(latex, tmp_path)


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


# -- figures ------------------------------------------------------------------------------------

MLIC_FIGURE = ["mlicpp-paper", "mlicplus-paper", "mlic-paper", "compressai-cheng2020-attn", "compressai-mbt2018"]


def _lines(axes) -> dict[str, list[tuple[float, float]]]:
    return {line.get_label(): list(zip(line.get_xdata(), line.get_ydata())) for line in axes.get_lines()}


def test_figure_curves_are_the_load_curves_points():
    """`rdbench.plot_rd` on a `load_curves` DataFrame returns a Figure whose lines (main axes and inset)
    hold exactly the DataFrame's points, labelled with the display names, in the legend order asked, the
    anchor black and solid, published curves dashed; limits, size and inset range as asked."""
    from matplotlib.figure import Figure

    frame = api.load_curves(None, [*MLIC_FIGURE, "vtm17"], "kodak")
    labels = {"mlicpp-paper": "MLIC++ (paper)", "vtm17": "VTM-17.0"}
    fig = api.plot_rd(frame, anchor="vtm17", labels=labels, order=["vtm17", "mlicpp-paper"], xlim="0,1",
                          ylim=(26, 38), size="two-column", inset=(0.1, 0.4))
    assert isinstance(fig, Figure)
    assert tuple(fig.get_size_inches()) == (7.0, 4.2)
    main, inset = fig.axes[0], fig.axes[0].child_axes[0]
    expected = {labels.get(n, n): sorted(zip(g["bpp"], g["value"])) for n, g in frame.groupby("name")}
    assert _lines(main) == expected
    assert [line.get_xydata().tolist() for line in inset.get_lines()] == \
           [line.get_xydata().tolist() for line in main.get_lines()]
    assert main.get_xlim() == (0.0, 1.0) and main.get_ylim() == (26.0, 38.0) and inset.get_xlim() == (0.1, 0.4)
    legend = [t.get_text() for t in main.get_legend().get_texts()]
    assert legend[:2] == ["VTM-17.0", "MLIC++ (paper)"] and legend[2:] == sorted(legend[2:])
    by_label = {line.get_label(): line for line in main.get_lines()}
    assert by_label["VTM-17.0"].get_color() == "#000000" and by_label["VTM-17.0"].get_linestyle() == "-"
    assert by_label["MLIC++ (paper)"].get_linestyle() == "--"


def test_measured_curves_drawn_solid_from_the_store(measured_store):
    """Measured curves (one family) are solid with filled markers, a published one dashed with open ones,
    and their points are load_curves' from the store."""
    frame = api.load_curves(measured_store.db, ["jpeg", "webp", "compressai-jpeg"], measured_store.dataset)
    fig = api.plot_rd(frame)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    for name in ("jpeg", "webp"):
        points = frame[frame["name"] == name].sort_values("bpp")
        assert lines[name].get_xydata().tolist() == points[["bpp", "value"]].to_numpy().tolist()
        assert lines[name].get_linestyle() == "-" and lines[name].get_markerfacecolor() == lines[name].get_color()
    if "compressai-jpeg" in lines:
        assert lines["compressai-jpeg"].get_linestyle() == "--"


def test_plot_cli_writes_vector_figures_with_embedded_fonts(tmp_path):
    """`rdbench plot` with the paper options: an SVG 7 in wide whose text is drawn as paths, each curve's line
    (``<g id="rd-curve:NAME">``) with as many vertices as load_curves has points of it; a PDF with TrueType
    fonts (no Type 3)."""
    common = ["plot", "--codec", ",".join(MLIC_FIGURE), "--anchor", "vtm17", "--dataset", "kodak", "--db",
              tmp_path / "none.sqlite", "--out", tmp_path, "--size", "two-column", "--label", "mlicpp-paper=MLIC++"]
    rdbench(*common, "--ext", "svg", in_process=True, check=True)
    svg = (tmp_path / "rd_kodak_psnr.svg").read_text()
    assert 'width="504pt"' in svg and "<text" not in svg
    frame = api.load_curves(None, [*MLIC_FIGURE, "vtm17"], "kodak")
    for name, points in frame.groupby("name"):
        path = re.search(rf'<g id="rd-curve:{re.escape(name)}">\s*<path d="([^"]+)"', svg)
        assert path is not None, name
        assert len(re.findall(r"[ML] ", path.group(1))) == len(points), name
    rdbench(*common, "--ext", "pdf", "--inset", "0.1,0.4", in_process=True, check=True)
    pdf = (tmp_path / "rd_kodak_psnr.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Subtype /Type3" not in pdf


@pytest.mark.slow
def test_library_and_old_calls_of_plot_rd(tmp_path):
    """Without paper options and with a path, `rdbench.plot_rd` writes the figure `rdbench plot` always wrote
    (the notebooks' call); without a path it returns the Figure; bad ranges are usage errors (exit 2)."""
    from matplotlib.figure import Figure

    points = {"jpeg": [(0.2, 30.0), (0.6, 35.0)], "webp": [(0.15, 30.5), (0.5, 35.5)]}
    assert api.plot_rd(points, tmp_path / "old.png", title="t") == tmp_path / "old.png"
    assert isinstance(api.plot_rd(points, published={"webp"}), Figure)
    with pytest.raises(UsageError, match="low end must be below"):
        api.plot_rd(points, xlim="1,0")
    with pytest.raises(UsageError, match="no curve has points"):
        api.plot_rd(points, inset=(2, 3))
    with pytest.raises(UsageError, match="unknown figure size"):
        api.plot_rd(points, size="three-column")
    ran = rdbench("plot", "--codec", "mlic-paper", "--dataset", "kodak", "--xlim", "a,b", "--out", tmp_path)
    assert ran.returncode == 2 and "--xlim 'a,b' is not LOW,HIGH" in ran.stderr
