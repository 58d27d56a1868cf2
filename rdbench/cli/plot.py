"""`rdbench plot`: RD curves per dataset (measured and published); per-image, rate-difference and complexity views."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rdbench.analysis.anchor_points import anchor_curve, check_anchor_qualities
from rdbench.analysis.bdrate import METHODS
from rdbench.analysis.catalogue import Catalogue
from rdbench.analysis.curves import resolve_curve, select_measured
from rdbench.analysis.dataset_names import resolve_datasets
from rdbench.analysis.name_checks import check_names, check_qualities
from rdbench.analysis.plots import plot_delta, plot_per_image, plot_rd
from rdbench.cli.bdrate import SELECTORS_HELP
from rdbench.cli.figure_options import figure_options, figure_request, paper_rd
from rdbench.cli.options import (
    aggregate_option,
    db_option,
    metric_option,
    parse_qualities,
    quality_option,
    split_csv,
)
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import UsageError, did_you_mean


def open_catalogue(db: str, needed: bool) -> Catalogue:
    """The results database read-only; a missing one is a usage error when measured runs are needed."""
    path = Path(db)
    if path.exists() or not needed:
        return Catalogue.open(path)
    folder = path.parent if str(path.parent) else Path(".")
    siblings = sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    raise UsageError(f"no results database at {db}{did_you_mean(path.name, siblings)}",
                     hint="measure codecs with `rdbench run` first, or pass the right --db")


def _needs_store(names: list[str], anchor: str | None) -> bool:
    """Whether these names need measured runs (anything that is not a shipped published curve)."""
    from rdbench.analysis.curves import FALLBACKS
    from rdbench.analysis.references import list_references

    shipped = {*list_references(), *FALLBACKS}
    return not names or any(n not in shipped for n in [*names, *([anchor] if anchor else [])])


@click.command("plot", epilog=SELECTORS_HELP)
@click.option("--codec", "codecs", default=None, help="Comma-separated codecs or references [default: measured].")
@click.option("--dataset", "datasets", default="kodak", show_default=True, help="Comma-separated datasets.")
@quality_option("only these stored points make the measured codecs' curves, not the anchor's (see "
                "--anchor-qualities) [default: all]")
@click.option("--anchor-qualities", "anchor_qualities", default=None,
              help="Comma-separated qualities (QPs) of the anchor's points to draw and compare with, as in "
                   "`rdbench bdrate` [default: all its points].")
@metric_option()
@click.option("--anchor", default=None, help="Codec drawn highlighted.")
@click.option("--per-image", is_flag=True, help="Per-image RD curves of measured codecs (spread around the mean).")
@click.option("--delta", is_flag=True,
              help="Rate difference (%) of each codec against --anchor as a function of quality over their overlap "
                   "(what a BD-rate averages); with --per-image also a thin line per image.")
@click.option("--method", type=click.Choice(METHODS), default="pchip", show_default=True,
              help="Interpolation of the --delta curves (as `rdbench bdrate --method`).")
@click.option("--complexity", is_flag=True,
              help="Time, memory and FLOPs against image size from `rdbench complexity` points in the store.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results/plots", show_default=True)
@click.option("--ext", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True)
@aggregate_option()
@figure_options
@db_option
def command(codecs, datasets, qualities, anchor_qualities, metric, anchor, per_image, delta, method, complexity, out_dir,
            ext, aggregate, xlim, ylim, label_pairs, labels_file, order, size, inset, db):
    """One RD figure per dataset: OUT/rd_<dataset>_<metric>.<ext>.

    --per-image writes OUT/rd_<dataset>_<metric>_per_image.<ext>; --delta writes
    OUT/delta_<dataset>_<metric>.<ext> (with --per-image: delta_<dataset>_<metric>_per_image.<ext>);
    --complexity writes OUT/complexity.<ext>. A legend names the configuration ("jpeg [3fa2b1c0]")
    when the store holds several of a codec. Each title names the aggregation of the curve points
    (--aggregate).

    \b
    Paper figures (docs/paper-output.md): --xlim, --ylim, --label, --labels, --order, --size and --inset
    draw the RD figure as it goes into a paper: display names, legend order, one- or two-column width,
    measured / published / imported / anchor curves in their own line styles, a zoomed inset, fonts
    embedded in PDF and SVG.
    """
    from rdbench.analysis.aggregate import aggregation

    paper = figure_request(xlim, ylim, label_pairs, labels_file, order, size, inset, per_image, delta, complexity)
    with aggregation(aggregate):
        _figures(codecs, datasets, qualities, anchor_qualities, metric, anchor, per_image, delta, method, complexity,
                 out_dir, ext, paper, db)


def _figures(codecs, datasets, qualities, anchor_qualities, metric, anchor, per_image, delta, method, complexity,
             out_dir, ext, paper, db) -> None:
    """The figures :func:`command` asks for (``paper``: the paper figure's options, or None), with curve
    points made under the aggregation in force: one function per kind of figure."""
    _check_kinds(per_image, delta, complexity, anchor)
    choice = parse_qualities(qualities)
    anchor_list = split_csv(anchor_qualities) or None
    if anchor_qualities is not None and (not anchor or not anchor_list):
        raise UsageError("--anchor-qualities selects points of the anchor: name it with --anchor, and at least one "
                         "quality")
    names = split_csv(codecs)
    out = Path(out_dir)
    if not complexity:
        _refuse_unavailable(metric, db)
    if delta:
        catalogue = open_catalogue(db, per_image or _needs_store(names, anchor))
        _delta(catalogue, names, anchor, split_csv(datasets), choice, anchor_list, metric, method, per_image, out, ext)
        return
    catalogue = open_catalogue(db, complexity or per_image or _needs_store(names, anchor))
    if complexity:
        _complexity(catalogue, names, out / f"complexity.{ext}")
        return
    wanted = resolve_datasets(catalogue, split_csv(datasets))
    measured = sorted({c for c, d, _ in catalogue.codec_datasets() if d in wanted})
    if per_image:
        _per_image(catalogue, names or measured, wanted, choice, metric, out, ext)
    else:
        _rd(catalogue, names or measured, wanted, choice, anchor, anchor_list, metric, paper, out, ext)


def _refuse_unavailable(metric: str, db: str) -> None:
    """A metric that cannot be measured here (VMAF) and has no stored values has nothing to draw: a usage
    error saying why, rather than "no curve"."""
    from rdbench import metric_spec
    from rdbench.store.sqlite import Store

    note = metric_spec.unavailable_note(metric)
    if note is None:
        return
    if Path(db).exists():
        with Store(db, readonly=True) as store:
            if metric in store.metric_names():
                return
    raise UsageError(f"--metric {metric}: {note}", hint="plot a metric measured here (docs/metrics.md)")


def _check_kinds(per_image: bool, delta: bool, complexity: bool, anchor: str | None) -> None:
    """The kinds of figure asked for go together (one per call), and --delta has its anchor."""
    if per_image and complexity:
        raise UsageError("--per-image and --complexity draw different figures", hint="pass one of them per call")
    if delta and complexity:
        raise UsageError("--delta and --complexity draw different figures", hint="pass one of them per call")
    if delta and not anchor:
        raise UsageError("--delta draws each codec's rate difference against an anchor",
                         hint="name it with --anchor (e.g. --anchor vtm18-published)")


def _sayer() -> Callable[[str], None]:
    """``say(line)``: a note on stderr, each distinct line once (several datasets repeat a codec's notes)."""
    said: set[str] = set()

    def say(line: str) -> None:
        if line not in said:
            said.add(line)
            click.echo(f"note: {line}", err=True)

    return say


def _per_image(catalogue: Catalogue, names: list[str], wanted: list[str], choice: QualityChoice, metric: str,
               out_dir: Path, ext: str) -> None:
    """One per-image figure per dataset: every image's curve of the measured codecs under their mean."""
    check_names(catalogue, names, measured_only=True)
    check_qualities(catalogue, names, wanted, choice)
    say = _sayer()
    for dataset in wanted:
        selections = {n: s for n in names if (s := select_measured(catalogue, n, dataset, choice.of(n)))}
        for selection in selections.values():
            for note in selection.notes:
                say(note)
        images = {n: c for n, s in selections.items() if (c := s.per_image(metric))}
        means = {n: selections[n].points(metric) for n in images}
        labels = {n: selections[n].label for n in images}
        path = plot_per_image(images, means, out_dir / f"rd_{dataset}_{metric}_per_image.{ext}",
                              title=f"{dataset}, per image; mean: {_aggregation()}", metric=metric,
                              labels=labels)
        click.echo(str(path))


def _rd(catalogue: Catalogue, names: list[str], wanted: list[str], choice: QualityChoice, anchor: str | None,
        anchor_list: list[str] | None, metric: str, paper: dict[str, Any] | None, out_dir: Path, ext: str) -> None:
    """One RD figure per dataset (a paper figure when ``paper`` holds its options); a name without a curve
    on a dataset is a note, not an error."""
    check_names(catalogue, names)
    if anchor:
        check_names(catalogue, [anchor], role="anchor")
        if anchor not in names:
            names.append(anchor)
    check_qualities(catalogue, [n for n in names if n != anchor], wanted, choice, anchor=anchor)
    if anchor:
        check_anchor_qualities(catalogue, anchor, wanted, metric, anchor_list)
    say = _sayer()
    for dataset in wanted:
        found = {}
        for name in names:
            wanted_points = anchor_list if name == anchor else choice.of(name)
            curve = (anchor_curve(catalogue, name, dataset, metric, anchor_list)[0] if name == anchor
                     else resolve_curve(catalogue, name, dataset, metric, wanted_points))
            if curve is not None:
                found[name] = curve
            else:
                say(f"{name} has no {metric} curve on {dataset}"
                    + (f" at quality {', '.join(wanted_points)}" if wanted_points else "") + ": not drawn")
        for info in found.values():
            for note in info.notes:
                say(note)
        out = out_dir / f"rd_{dataset}_{metric}.{ext}"
        if paper is not None:
            click.echo(str(paper_rd(found, anchor, out, metric, paper)))
            continue
        title = dataset + (f" (quality {choice.describe()})" if choice else "") + f", {_aggregation()}"
        path = plot_rd({n: c.points for n, c in found.items()}, out, title=title, metric=metric, anchor=anchor,
                       published={n for n, c in found.items() if c.source != "measured"},
                       labels={n: c.label for n, c in found.items()})
        click.echo(str(path))


def _delta(catalogue: Catalogue, names: list[str], anchor: str, dataset_specs: list[str], choice: QualityChoice,
           anchor_qualities: list[str] | None, metric: str, method: str, per_image: bool, out_dir: Path, ext: str) -> None:
    """One rate-difference figure per dataset (:func:`rdbench.analysis.plots.plot_delta`)."""
    from rdbench.analysis.delta import delta_figure

    wanted = resolve_datasets(catalogue, dataset_specs)
    measured = sorted({c for c, d, _ in catalogue.codec_datasets() if d in wanted})
    names = [n for n in (names or measured) if n != anchor]
    if not names:
        raise UsageError(f"no codec to compare with {anchor}", hint="name them with --codec")
    check_names(catalogue, names)
    check_names(catalogue, [anchor], role="anchor")
    check_qualities(catalogue, names, wanted, choice, anchor=anchor)
    check_anchor_qualities(catalogue, anchor, wanted, metric, anchor_qualities)
    say = _sayer()
    for dataset in wanted:
        figure = delta_figure(catalogue, anchor, names, dataset, metric, method, choice, per_image, anchor_qualities)
        if figure is None:
            say(f"anchor {anchor} has no {metric} curve on {dataset}: no rate-difference figure")
            continue
        for line in figure.notes:
            say(line)
        if not figure.deltas:
            say(f"no codec has a rate difference against {anchor} on {dataset}: no figure")
            continue
        suffix = "_per_image" if per_image else ""
        title = f"{dataset} ({method}{', per image' if per_image else ''})"
        path = plot_delta(figure.deltas, out_dir / f"delta_{dataset}_{metric}{suffix}.{ext}", anchor=anchor,
                          title=title, metric=metric, per_image=figure.per_image or None, labels=figure.labels)
        click.echo(str(path))


def _aggregation() -> str:
    """``aggregate image-mean``: how the figure's mean curves aggregate their images."""
    from rdbench.analysis.aggregate import current_aggregation

    return f"aggregate {current_aggregation()}"


def _complexity(catalogue: Catalogue, codecs: list[str], path: Path) -> None:
    from rdbench.analysis.complexity import plot_complexity

    store = catalogue.store
    points = store.complexity_points(codecs or None) if store is not None else []
    if not points:
        which = f" for {', '.join(codecs)}" if codecs else ""
        raise UsageError(f"no complexity points in the results database{which}",
                         hint="measure them with `rdbench complexity --codec NAME`")
    path.parent.mkdir(parents=True, exist_ok=True)
    click.echo(str(plot_complexity(points, path)))
