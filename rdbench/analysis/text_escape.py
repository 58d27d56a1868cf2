"""Every string of a paper table or figure written as literal text in LaTeX, markdown or HTML.

WHY a module of its own: codec names, dataset folders, footnotes and captions come from the
database, an imported file or a labels file (``mlic_pp``, ``50%``, ``a|b``, ``<script>``); the
renderers of :mod:`rdbench.analysis.paper_table` write them into three markup languages, and each
needs its own escaping, decided here once so no renderer can forget one.
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


def markdown(text: str) -> str:
    """``text`` as one markdown table cell: a pipe would end the cell and a newline the row, and
    ``*``, ``_``, backticks, brackets and ``<`` would start emphasis, code, links or HTML."""
    text = " ".join(str(text).split("\n"))
    return re.sub(r"([\\|*_`\[\]<>])", r"\\\1", text)


def html(text: str) -> str:
    """``text`` as HTML text or an attribute value (``& < > " '`` escaped)."""
    return _html.escape(str(text), quote=True)
