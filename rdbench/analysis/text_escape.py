"""Every string rdbench writes as literal text in LaTeX, markdown or HTML/SVG: one escape per format.

WHY a module of its own: codec names, dataset folders, footnotes and captions come from the
database, an imported file or a labels file (``mlic_pp``, ``50%``, ``a|b``, ``<script>``); the paper
tables (:mod:`rdbench.analysis.paper_table`), the report's SVG charts (:mod:`rdbench.analysis.svgplot`)
and every ``--format latex|markdown`` table (:mod:`rdbench.cli.formatting`) write them into three
markup languages, and each needs its own escaping, decided here once so no renderer can forget one
or escape differently.
"""

from __future__ import annotations

import html as _html
import re

#: LaTeX's special characters in text mode and how to write each as text (one pass, so the braces
#: one replacement adds are never escaped again). ``<``, ``>`` and ``|`` print as other glyphs in
#: LaTeX's default OT1 font encoding, hence their text commands.
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_LATEX_SPECIAL = re.compile("|".join(re.escape(c) for c in _LATEX))


def latex(text: str) -> str:
    """``text`` as LaTeX prints it literally (text mode): each special character escaped, in one pass;
    a newline becomes a space (a blank line would end the paragraph inside a cell)."""
    return _LATEX_SPECIAL.sub(lambda m: _LATEX[m.group(0)], " ".join(str(text).split("\n")))


#: markdown's specials in a table cell; ``_`` only where it could open or close emphasis: pipe tables
#: exist only in GFM, CommonMark extensions and pandoc, and all of them read an underscore between two
#: letters or digits (``ci_low``, ``my_codec``) as text.
_MARKDOWN_SPECIAL = re.compile(r"[\\|*`\[\]<>]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def markdown(text: str) -> str:
    """``text`` as one markdown table cell: a pipe would end the cell and a newline the row, and
    ``*``, ``_``, backticks, brackets and ``<`` would start emphasis, code, links or HTML."""
    text = " ".join(str(text).split("\n"))
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def html(text: str) -> str:
    """``text`` as HTML text or an attribute value (``& < > " '`` escaped)."""
    return _html.escape(str(text), quote=True)
