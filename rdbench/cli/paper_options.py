"""The options of paper output shared by `rdbench bdrate` and `rdbench plot`: display names
(``--label``, ``--labels``), and for tables the columns and the average (docs/paper-output.md).

WHY here: both commands read display names the same way (a repeatable ``NAME="Display name"`` and a
TOML or JSON file, the pairs winning over the file), so the spelling and its errors are decided once.
"""

from __future__ import annotations

from typing import Any

import click

from rdbench.analysis.paper_table import COLUMNS, load_labels, parse_labels
from rdbench.errors import UsageError


def label_options(function):
    """``--label NAME="Display name"`` (repeatable) and ``--labels FILE``."""
    function = click.option("--labels", "labels_file", type=click.Path(dir_okay=False), default=None,
                            help="TOML or JSON file mapping names (codecs, datasets, the anchor) to display names; "
                                 "--label pairs win over it.")(function)
    return click.option("--label", "label_pairs", multiple=True, metavar='NAME="Display name"',
                        help="Display name of a codec, dataset or the anchor (repeatable; in bdrate's table over several "
                             "metrics also of a metric), e.g. "
                             '--label mlicpp-paper="MLIC++".')(function)


def paper_options(function):
    """The table options: ``--columns``, ``--average`` and the label options."""
    function = click.option("--average", is_flag=True,
                            help="Paper table: add a column with each codec's mean over the datasets (only codecs "
                                 "with a value on every dataset; the others say why).")(function)
    function = label_options(function)
    return click.option("--columns", default=None, metavar="COL,...",
                        help=f"Paper table: the columns of each dataset, among {', '.join(COLUMNS)} "
                             "[default: value, with ci under --ci].")(function)


def labels_of(label_pairs: tuple[str, ...], labels_file: str | None) -> dict[str, str]:
    """The display names asked for: the file's, then the pairs (which win)."""
    return {**(load_labels(labels_file) if labels_file else {}), **parse_labels(label_pairs)}


def paper_request(fmt: str, columns: str | None, label_pairs: tuple[str, ...], labels_file: str | None,
                  average: bool, per_image: bool, sensitivity: bool) -> dict[str, Any] | None:
    """The paper table's options when one is asked for (any of its options, or ``--format html``), else
    None: without them `bdrate` prints what it always printed. A paper table is latex, markdown or html,
    and holds the main table only."""
    if columns is None and not label_pairs and labels_file is None and not average and fmt != "html":
        return None
    if fmt not in ("latex", "markdown", "html"):
        raise UsageError(f"--columns, --label, --labels and --average make a paper table, written as latex, "
                         f"markdown or html, not {fmt}", hint="add --format latex (or markdown, html)")
    if per_image or sensitivity:
        raise UsageError("a paper table holds the main values only, not --per-image or --sensitivity",
                         hint="print those with another call, without the paper options")
    return {"columns": columns, "labels": labels_of(label_pairs, labels_file)}
