"""`rdbench results`: print what the results database holds, or delete records by filter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from rdbench.cli.options import aggregate_option, db_option, format_option, split_csv
from rdbench.errors import RdbenchError, UsageError, did_you_mean
from rdbench.metric_spec import MS_SSIM, PSNR

#: the built-in metrics' record fields: PSNR, MS-SSIM and MS-SSIM in dB
_PSNR, _MS_SSIM, _MS_SSIM_DB = PSNR.field, MS_SSIM.field, MS_SSIM.curve_field
PER_IMAGE_COLUMNS = ["codec", "config", "quality", "dataset", "image", "height", "width", "bpp", _PSNR, _MS_SSIM,
                     _MS_SSIM_DB, "encode_s", "decode_s", "peak_mem_bytes", "weights", "device", "status", "error"]
FAILED_COLUMNS = ["codec", "config", "quality", "dataset", "image", "weights", "device", "error", "created_at"]
MISMATCH_COLUMNS = ["codec", "config", "quality", "dataset", "image", "weights", "device", "bpp", _PSNR,
                    "decoder_max_abs_diff"]
MEAN_COLUMNS = ["codec", "config_hash", "dataset", "quality", "weights", "device", "code", "n", "failed", "bpp", _PSNR,
                "psnr_capped", _MS_SSIM, _MS_SSIM_DB, "encode_s", "decode_s"]


def _filters(store, codec: str | None, dataset: str | None, quality: str | None, status: str | None,
             weights: str | None, device: str | None, image: str | None = None,
             stale: bool = False) -> dict[str, Any]:
    """Store filters from the options, every name checked against what is stored (usage error + "did you mean").
    Stale records (an image's earlier content) are selected with ``stale`` only, never mixed with current ones."""
    from rdbench.analysis.catalogue import Catalogue
    from rdbench.analysis.curve_names import short_weights
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.analysis.name_checks import check_names

    catalogue = Catalogue(store)
    filters: dict[str, Any] = {"status": status, "stale": stale}
    names = split_csv(codec)
    if names:
        check_names(catalogue, names, measured_only=True)
        choices = [catalogue.resolve(n) for n in names]
        if any(c.imported for c in choices):
            raise UsageError("'@imported' names an imported curve; results lists measured records")
        filters["selections"] = [c.selection() for c in choices]
    if dataset:
        filters["datasets"] = resolve_datasets(catalogue, split_csv(dataset), stored_only=True)
    groups = store.record_groups() if quality or weights or device else []
    if quality:
        from rdbench.analysis.aggregate import _quality_sort_key

        stored = sorted({g["quality"] for g in groups}, key=_quality_sort_key)
        wanted = split_csv(quality)
        filters["qualities"] = [q for q in stored if any(_quality_sort_key(q) == _quality_sort_key(w) for w in wanted)]
        if not filters["qualities"]:
            raise UsageError(f"no record at quality {quality}", hint=f"stored qualities: {', '.join(stored)}")
    if weights:
        stored = sorted({g["weights"] for g in groups} - {""})
        found = [w for w in stored for prefix in split_csv(weights)
                 if w.startswith(prefix) or w.split(":", 1)[-1].startswith(prefix.lower())]
        if not found:
            raise UsageError(f"no record with weights {weights!r}",
                             hint=f"stored weights: {', '.join(short_weights(w) for w in stored) or 'none'}")
        filters["weights"] = sorted(set(found))
    if device:
        stored = sorted({g["device"] for g in groups})
        for d in split_csv(device):
            if d not in stored:
                raise UsageError(f"no record on device {d!r}{did_you_mean(d, stored)}",
                                 hint=f"stored devices: {', '.join(stored)}")
        filters["devices"] = split_csv(device)
    if image:
        stored = sorted({r.image for r in store.find_records(**{k: v for k, v in filters.items() if k != "stale"})})
        for name in split_csv(image):
            if name not in stored:
                raise UsageError(f"no record of image {name!r}{did_you_mean(name, stored)}",
                                 hint="`rdbench results --per-image` lists the stored images")
        filters["images"] = split_csv(image)
    return filters


def _per_image_row(record) -> dict[str, Any]:
    """A record's JSON fields with PSNR and MS-SSIM dB under the lossless convention (capped, flagged)."""
    from rdbench.analysis.aggregate import capped_db, is_capped
    from rdbench.analysis.curve_names import short_weights

    row = record.to_json()
    row.update(record.metrics)  # each plug-in metric's value a column of its own
    row[_PSNR], row[_MS_SSIM_DB] = capped_db(record.psnr), capped_db(record.ms_ssim_db)
    row["psnr_capped"], row["ms_ssim_db_capped"] = is_capped(record.psnr), is_capped(record.ms_ssim_db)
    row["config"] = record.config_hash[:8]
    row["weights_short"] = short_weights(record.weights)
    return row


#: the record fields the per-image table shows (and what its cells are made from)
_PER_IMAGE_FIELDS = ("codec", "config_hash", "quality", "dataset", "image", "height", "width", "bpp", _PSNR,
                     _MS_SSIM, _MS_SSIM_DB, "encode_s", "decode_s", "peak_mem_bytes", "weights", "device", "code",
                     "status", "error")


def _per_image_columns(table: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The :data:`PER_IMAGE_COLUMNS` (and ``psnr_capped``) of records given as columns of
    :data:`_PER_IMAGE_FIELDS`, for the formats people read: the values :func:`_per_image_row` gives
    them, with the short weights id. An infinite value stays a float here: it prints as ``inf``, as
    the JSON row's ``"inf"`` does."""
    from rdbench.analysis.aggregate import capped_db, is_capped
    from rdbench.analysis.curve_names import short_weights
    from rdbench.codecs.code_identity import short_code

    return {**table, "config": [h[:8] for h in table["config_hash"]], "code": [short_code(c) for c in table["code"]],
            _PSNR: [capped_db(v) for v in table[_PSNR]], _MS_SSIM_DB: [capped_db(v) for v in table[_MS_SSIM_DB]],
            "weights": [short_weights(w) for w in table["weights"]], "psnr_capped": [is_capped(v) for v in table[_PSNR]]}


@click.command(name="results")
@click.option("--codec", default=None,
              help="Comma-separated codecs (default: all); NAME@HASH, NAME@DEVICE, NAME@WEIGHTS, NAME@CODE "
              "select further.")
@click.option("--dataset", default=None, help="Comma-separated dataset names (default: all).")
@click.option("--quality", default=None, help="Comma-separated qualities (default: all).")
@click.option("--status", type=click.Choice(["ok", "failed"]), default=None, help="Only records with this status.")
@click.option("--failed", is_flag=True, help="List failed records with their errors (--status failed).")
@click.option("--weights", default=None, help="Comma-separated weights id prefixes (e.g. the hex of sha256:...).")
@click.option("--device", default=None, help="Comma-separated devices (cpu, cuda, cuda-to-cpu, ...).")
@click.option("--image", default=None, help="Comma-separated image names (e.g. kodim05.png).")
@click.option("--stale", is_flag=True, help="Only stale records: measured on an image's earlier content (the file "
              "changed since; no curve uses them). With --delete: delete them.")
@click.option("--mismatches", is_flag=True, help="List the records whose decoder did not rebuild the encoder's "
              "latent (extra.decoder_matches_encoder false; learned codecs, e.g. run with --decode-device).")
@click.option("--per-image", is_flag=True, help="One row per image instead of per-quality means.")
@click.option("--pooled", is_flag=True, help="Add pixel-weighted aggregates (bits/pixels, PSNR of pooled MSE).")
@click.option("--targets", is_flag=True, help="Means at the target rates of `rdbench run --target-bpp` (per codec "
              "and target: achieved bpp, deviation from the target, every metric, n); with --per-image one row per "
              "image and target.")
@click.option("--rate-tolerance", type=float, default=None, metavar="PERCENT", help="With --targets: the choices "
              "searched to this tolerance (default: each codec's latest run's; docs/rate-matching.md).")
@click.option("--delete", is_flag=True, help="Delete the records the filters select (asks first; see --yes).")
@click.option("--yes", is_flag=True, help="With --delete: do not ask.")
@click.option("--all", "everything", is_flag=True, help="With --delete and no filter: delete every record.")
@aggregate_option("aggregate_by")
@format_option()
@db_option
def command(codec, dataset, quality, status, failed, weights, device, image, stale, mismatches, per_image, pooled,
            targets, rate_tolerance, delete, yes, everything, aggregate_by, fmt, db) -> None:
    """Print stored results: per-quality dataset means (default), per image, or failures.

    Means follow CompressAI's and the MLIC papers' convention (average of per-image values) and
    are grouped by codec, configuration (config_hash), weights, device and quality, so results of
    two configurations never share a row; --pooled adds the pixel-weighted figures. A lossless
    image's PSNR (inf) counts as 100 dB in every mean and per-image value shown (psnr_capped
    counts them). `--format json` gives flat records with stable field names (codec,
    config_hash, quality, dataset, image, weights, device, height, width, bpp, psnr, ms_ssim,
    ms_ssim_db, encode_s, decode_s, peak_mem_bytes, status, error, ...).

    Records of an image whose file has changed content since they were measured are stale: left
    out of every listing and curve, listed with --stale (and deleted with --delete --stale).

    --delete removes the records the filters select (exit 2 without a filter unless --all).
    """
    from rdbench.store.record import STATUS_FAILED

    if failed:
        if status == "ok":
            raise UsageError("--failed and --status ok contradict each other")
        status = STATUS_FAILED
    if delete and mismatches:
        raise UsageError("--mismatches lists records and does not combine with --delete",
                         hint="delete by --codec NAME@DEVICE, --device or --quality instead")
    if targets:
        if delete or failed or status or mismatches or stale or pooled or quality or weights or image:
            raise UsageError("--targets lists matched points by --codec, --dataset and --device only")
        _targets(db, codec, dataset, device, per_image, rate_tolerance, fmt)
        return
    if rate_tolerance is not None:
        raise UsageError("--rate-tolerance chooses among the matched points of --targets", hint="add --targets")
    if delete:
        _delete(db, codec, dataset, quality, status, weights, device, image, stale, yes, everything)
        return
    if yes or everything:
        raise UsageError("--yes and --all go with --delete")
    # the per-image table of the formats people read needs no Record per row, nor every column
    columnar = per_image and fmt != "json" and not mismatches and status != STATUS_FAILED
    listing = _read(db, codec, dataset, quality, status, weights, device, image, stale, columnar=columnar,
                    mismatches=mismatches)
    from rdbench.metric_spec import unavailable_beside

    for name, note in unavailable_beside(listing.plugins).items():  # a column a reader of the set looks for
        click.echo(f"note: {name} has no column: {note}", err=True)
    if listing.stale_count and fmt in ("table", "markdown"):
        click.echo(f"note: {listing.stale_count} stale records (measured on an image's earlier content) are not "
                   "shown (--stale lists them)", err=True)
    if not listing.records:
        click.echo("no matching records" + (" (no failures)" if status == STATUS_FAILED else "")
                   + (" (no decoder mismatch)" if mismatches else "") + (" (nothing stale)" if stale else ""), err=True)
        return
    if failed or status == STATUS_FAILED:
        _print_failures(listing.records, fmt)
    elif mismatches:
        _print_mismatches(listing.records, fmt)
    elif per_image:
        _capped_note(_print_per_image(listing, fmt), fmt)
    else:
        _capped_note(_print_means(listing.records, listing.plugins, pooled, aggregate_by, fmt), fmt)


@dataclass
class _Listing:
    """What ``results`` read: the records (or, ``columnar``, their per-image ``table`` and one entry per
    record in ``records``), the plug-in metrics with stored values, and the stale records left out."""

    records: list[Any]
    plugins: list[str]
    stale_count: int
    table: dict[str, list[Any]] | None = None


def _read(db, codec, dataset, quality, status, weights, device, image, stale: bool, *, columnar: bool,
          mismatches: bool) -> _Listing:
    """The records the filter options select (:func:`_filters`), read-only; ``columnar``: as the
    per-image table's columns."""
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        filters = _filters(store, codec, dataset, quality, status, weights, device, image, stale)
        plugins = store.metric_names()  # plug-in metrics with stored values: a column each, after the built-ins
        table = None
        if columnar:
            table = store.record_columns(fields=_PER_IMAGE_FIELDS, **filters)
            table.update(store.metric_columns(plugins, **filters))
            records = table["codec"]  # one entry per record: all the checks ask of them
        else:
            records = store.find_records(**filters, mismatched=mismatches)
        stale_count = 0 if stale else sum(g["records"] for g in store.record_groups(**{**filters, "stale": True}))
    return _Listing(records, plugins, stale_count, table)


def _print_failures(records: list[Any], fmt: str) -> None:
    from rdbench.cli.formatting import render

    click.echo(render([_per_image_row(r) for r in records], FAILED_COLUMNS, fmt))


def _print_mismatches(records: list[Any], fmt: str) -> None:
    from rdbench.cli.formatting import render

    rows = [{**_per_image_row(r), "decoder_max_abs_diff": r.extra.get("decoder_max_abs_diff")} for r in records]
    click.echo(render(rows, MISMATCH_COLUMNS, fmt))


def _print_per_image(listing: _Listing, fmt: str) -> int:
    """One row per record; returns how many PSNR values were capped."""
    from rdbench.cli.formatting import render, render_columns
    from rdbench.store.record import RECORD_FIELDS

    if fmt == "json":
        rows = [_per_image_row(r) for r in listing.records]
        columns = [*RECORD_FIELDS, *listing.plugins, "psnr_capped", "ms_ssim_db_capped"]
        click.echo(render(rows, columns, fmt))
        return sum(row["psnr_capped"] for row in rows)
    table = listing.table
    cells = _per_image_columns(table)
    columns = [c for c in PER_IMAGE_COLUMNS if c != "weights" or any(table["weights"])]
    columns[columns.index(_MS_SSIM_DB) + 1:columns.index(_MS_SSIM_DB) + 1] = listing.plugins
    if len(set(table["code"])) > 1:
        columns.insert(columns.index("device") + 1, "code")
    click.echo(render_columns(cells, columns, fmt, count=len(listing.records)))
    return sum(cells["psnr_capped"])


def _print_means(records: list[Any], plugins: list[str], pooled: bool, aggregate_by: str | None, fmt: str) -> int:
    """Per-quality means (aggregated as ``aggregate_by`` says) with their notes; returns how many
    per-image PSNR values were capped."""
    from rdbench.analysis.aggregate import (
        aggregate,
        aggregation,
        aggregation_note,
        mixed_timing_note,
        uneven_images,
    )
    from rdbench.analysis.curve_names import short_weights
    from rdbench.cli.formatting import render
    from rdbench.codecs.code_identity import short_code

    with aggregation(aggregate_by):
        rows = aggregate(records)
    click.echo(f"note: {aggregation_note(aggregate_by)}", err=True)
    columns = list(MEAN_COLUMNS)
    if fmt == "json":
        columns.append("aggregation")
    columns[columns.index(_MS_SSIM_DB) + 1:columns.index(_MS_SSIM_DB) + 1] = plugins
    if any(row.get("n_ms_ssim", row["n"]) != row["n"] for row in rows):
        columns.insert(columns.index(_MS_SSIM), "n_ms_ssim")
    for note in uneven_images(rows):
        click.echo(f"note: {note}", err=True)
    timing_note = mixed_timing_note(rows)
    if timing_note:
        columns.insert(columns.index("decode_s") + 1, "n_timed")
        click.echo(f"note: {timing_note}", err=True)
    if pooled:
        columns += ["bpp_pooled", "psnr_pooled"]
    if fmt != "json":
        several_codes = len({row["code"] for row in rows}) > 1
        for row in rows:
            row["config"] = row["config_hash"][:8]
            row["weights"] = short_weights(row["weights"])
            row["code"] = short_code(row["code"])
        columns[columns.index("config_hash")] = "config"
        if not any(row["weights"] for row in rows):
            columns.remove("weights")
        if not several_codes:
            columns.remove("code")
        if not any(row.get("psnr_capped") for row in rows):
            columns.remove("psnr_capped")
    click.echo(render(rows, columns, fmt))
    return sum(row.get("psnr_capped") or 0 for row in rows)


def _capped_note(capped: int, fmt: str) -> None:
    from rdbench.analysis.aggregate import PSNR_CAP_DB

    if capped and fmt in ("table", "markdown"):
        click.echo(f"{capped} per-image PSNR values above {PSNR_CAP_DB:g} dB (lossless images, MSE 0) are counted "
                   f"as {PSNR_CAP_DB:g} dB (psnr_capped); the records keep the true value")


def _delete(db, codec, dataset, quality, status, weights, device, image, stale: bool, yes: bool,
            everything: bool) -> None:
    from collections import Counter

    from rdbench.store.sqlite import Store

    if not any((codec, dataset, quality, status, weights, device, image, stale)) and not everything:
        raise UsageError("--delete needs a filter (--codec, --dataset, --quality, --status/--failed, --weights, "
                         "--device, --image, --stale); nothing was deleted",
                         hint="pass --all to delete every record of the database")
    if not Path(db).exists():
        raise UsageError(f"no results database at {db}")
    with Store(db) as store:
        filters = _filters(store, codec, dataset, quality, status, weights, device, image, stale)
        if not stale:
            filters["stale"] = None  # deleting by a filter takes an image's records of every content
        groups = store.record_groups(**filters)
        count = sum(g["records"] for g in groups)
        if not count:
            click.echo("no matching records; nothing deleted", err=True)
            return
        summary = Counter()
        for g in groups:
            summary[(g["codec"], g["config_hash"][:8], g["dataset"], g["status"])] += g["records"]
        click.echo(f"{count} records match in {db}:", err=True)
        for (c, h, d, s), n in sorted(summary.items()):
            click.echo(f"  {c} [{h}] on {d}, {s}: {n}", err=True)
        if not yes and not click.confirm(f"delete these {count} records?", default=False, err=True):
            raise RdbenchError("not confirmed: nothing deleted", hint="answer y, or pass --yes")
        deleted = store.delete_records(everything=everything, **filters)
    click.echo(f"deleted {deleted} records from {db}")


def _targets(db, codec: str | None, dataset: str | None, device: str | None, per_image: bool,
             rate_tolerance: float | None, fmt: str) -> None:
    """``--targets``: the matched points' means per codec and target (or per image)."""
    from rdbench.analysis.curve_names import short_weights
    from rdbench.analysis.targets import (
        POINT_COLUMNS,
        TARGET_COLUMNS,
        shown_point,
        target_points,
        target_rows,
    )
    from rdbench.cli.formatting import render
    from rdbench.run.rate_match import check_tolerance
    from rdbench.store.sqlite import Store

    tolerance = None if rate_tolerance is None else check_tolerance(rate_tolerance)
    with Store(db, readonly=True) as store:
        filters = _filters(store, codec, dataset, None, None, None, device)
        plugins = store.metric_names()
        chosen = {"selections": filters.get("selections"), "datasets": filters.get("datasets"), "tolerance": tolerance}
        if per_image:
            rows = [shown_point(row) for row in target_points(store, **chosen)]
            columns = [*POINT_COLUMNS, *plugins]
        else:
            rows = target_rows(store, **chosen)
            columns = list(TARGET_COLUMNS)
            columns[columns.index(_MS_SSIM_DB) + 1:columns.index(_MS_SSIM_DB) + 1] = plugins
    if device:
        rows = [row for row in rows if row["device"] in split_csv(device)]
    if not rows:
        click.echo("no matched points (`rdbench run --target-bpp ...` makes them)", err=True)
        return
    if fmt == "json":
        columns = [c for c in columns if c != "config"] + (["config_hash"] if not per_image else [])
    else:
        rows = [{**row, "weights": short_weights(row["weights"])} for row in rows]
        if not per_image and not any(row.get("note") for row in rows):
            columns.remove("note")
    click.echo(render(rows, columns, fmt))
