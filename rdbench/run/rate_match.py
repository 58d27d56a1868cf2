"""Rate matching: for each image and target bit rate, search a codec's quality for the point closest to it.

WHY a search per image: comparisons "at 0.25 bpp" (the JPEG AI common test conditions, the CLIC tracks)
need each image coded at the target, and a fixed quality gives every image its own rate. The JPEG AI
reference software matches the rate of each image by interpolating its rate parameter against the
logarithm of the rate, then bisecting, to within +-1 %; this module does the same for any codec that
declares its quality domain (:meth:`rdbench.codecs.base.Codec.rate_control`):

* a continuous control (JPEG XL's distance, WebP's quality) is searched until a point lies within the
  tolerance, or until no value the codec distinguishes is left between the two points around the
  target (WebP's quality moves its rate in steps of about 1 %);
* whole numbers (JPEG quality, a VVC QP) and fixed models (a learned codec's quality indices) end with
  the nearest point on each side of the target, the closer one chosen;
* a target beyond the codec's range on an image ends at the range's end, with that reason.

Every point tried is a plain record, coded and stored by the run's executor like any other job, so a
later sweep or search reuses it and a killed run resumes; a search begins from the points already
stored for the image. :func:`match` runs every search of a run together, in rounds: each round codes
the next point of every unfinished search as one batch of jobs (in parallel over images and targets),
and the choice for each image and target is written to the table ``rate_targets``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rdbench.codecs.base import (
    Codec,
    CodecConfig,
    CodecContext,
    QualityDomain,
    format_quality,
    parse_quality,
)
from rdbench.codecs.code_identity import code_identity
from rdbench.codecs.registry import load_adapter
from rdbench.data.datasets import Dataset
from rdbench.errors import UsageError
from rdbench.run.jobs import Job
from rdbench.run.plan import MISSING_WEIGHTS, job_context
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

#: The target rates of the JPEG AI common test conditions (bpp).
JPEG_AI_TARGETS = (0.06, 0.12, 0.25, 0.5, 0.75)
#: Named sets of targets ``--target-bpp`` takes instead of numbers.
TARGET_SETS = {"jpeg-ai": JPEG_AI_TARGETS}
#: The default tolerance, in percent of the target (the JPEG AI bitrate matcher's).
DEFAULT_TOLERANCE = 1.0
#: Significant digits of the values a continuous search codes: 1.234 rather than 1.2341234567 (a step
#: of 0.1 % of the value moves JPEG XL's rate by ~0.1 %, well inside a 1 % tolerance).
DIGITS = 4

#: Outcomes of a search (column ``status`` of ``rate_targets``).
MATCHED, NEAREST, BELOW, ABOVE, FAILED = "matched", "nearest", "below_range", "above_range", "failed"


def parse_targets(value: str | float | Iterable[float | str]) -> tuple[float, ...]:
    """The target rates of ``--target-bpp``: numbers (``"0.12,0.25"`` or a list) or a set's name
    (``"jpeg-ai"``), sorted, each above 0; UsageError otherwise (before anything is stored)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in TARGET_SETS:
            return TARGET_SETS[text.lower()]
        words = [w.strip() for w in text.split(",") if w.strip()]
    elif isinstance(value, (int, float)):
        words = [value]
    else:
        words = list(value)
    if not words:
        raise UsageError(f"--target-bpp {value!r} names no rate; give bpp values (0.12,0.25) or one of "
                         f"{', '.join(TARGET_SETS)}")
    targets = []
    for word in words:
        try:
            number = float(word)
        except (TypeError, ValueError):
            raise UsageError(f"--target-bpp {word!r} is neither a number nor a known set; known sets: "
                             f"{', '.join(f'{k} ({_listed(v)})' for k, v in TARGET_SETS.items())}") from None
        if not math.isfinite(number) or number <= 0:
            raise UsageError(f"--target-bpp {word}: a target rate must be a number of bits per pixel above 0")
        targets.append(number)
    return tuple(sorted(set(targets)))


def check_tolerance(percent: float) -> float:
    """``--rate-tolerance`` in percent of the target, inside (0, 50); returned as a fraction."""
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 < percent < 50:
        raise UsageError(f"--rate-tolerance {percent!r}: give a percentage above 0 and below 50 (default "
                         f"{DEFAULT_TOLERANCE:g})")
    return float(percent) / 100


def _listed(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


@dataclass(frozen=True)
class Space:
    """The qualities a search may code for one codec configuration.

    Continuous controls are searched on a coordinate: the logarithm of the value when the range spans
    two decades or more and is positive (JPEG XL's distance 0.01-25, whose log rate is nearly linear in
    its log), else the value. Whole numbers and models are searched on the index of ``values``."""

    control: str
    lo: float
    hi: float
    values: tuple[int | float, ...] = ()
    log: bool = False
    start: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: CodecConfig, adapter: type[Codec], context: CodecContext) -> Space:
        """The space of ``config``; UsageError for a codec that declares no quality domain."""
        control = adapter.rate_control(config)
        domain: QualityDomain | None = adapter.quality_domain_for(config)
        if control is None or domain is None:
            raise UsageError(f"{config.name}: --target-bpp needs the codec's quality domain, and its adapter "
                             "declares none (quality_domain, docs/concepts.md)")
        sweep = sorted({domain.canonical(q) for q in config.qualities if _inside(domain, q)})
        if control != "models" and domain.values is None and (domain.min is None or domain.max is None):
            raise UsageError(f"{config.name}: --target-bpp needs a bounded quality range, and {config.name} takes "
                             f"{domain.describe()}")
        if control == "continuous":
            lo, hi = float(domain.min), float(domain.max)
            log = lo > 0 and hi / lo >= 100
            start = (sweep[0], sweep[-1]) if len(sweep) >= 2 else (lo, hi)
            return cls(control, lo, hi, (), log, tuple(format_quality(v) for v in start))
        if control == "models":
            values = sweep or sorted(domain.values or ())
            values = [v for v in values if not adapter.weights_identity(config, context, v)[0]
                      .startswith(MISSING_WEIGHTS)]
        else:
            values = list(range(int(domain.min), int(domain.max) + 1))
        if not values:
            raise UsageError(f"{config.name}: no quality to search (no model with weights here)")
        start = (sweep[0], sweep[-1]) if len(sweep) >= 2 else (values[0], values[-1])
        return cls(control, 0, len(values) - 1, tuple(values), False, tuple(format_quality(v) for v in start))

    @property
    def discrete(self) -> bool:
        return self.control != "continuous"

    def coordinate(self, quality: str) -> float | None:
        """Where ``quality`` lies on the search axis; None when it is not a point of this space."""
        value = parse_quality(quality)
        if not isinstance(value, (int, float)):
            return None
        if self.discrete:
            try:
                return float(self.values.index(value))
            except ValueError:
                return None
        if not self.lo <= value <= self.hi:
            return None
        return math.log(value) if self.log else float(value)

    def quality_at(self, coordinate: float, low: float, high: float) -> str | None:
        """The stored text of the value at ``coordinate``, strictly between the points at ``low`` and
        ``high`` (coordinates, low < high); None when the codec has no value between them."""
        if self.discrete:
            index = min(max(round(coordinate), int(low) + 1), int(high) - 1)
            return format_quality(self.values[index]) if low < index < high else None
        value = float(f"{(math.exp(coordinate) if self.log else coordinate):.{DIGITS}g}")
        spot = math.log(value) if self.log else value
        return format_quality(value) if low < spot < high and self.lo <= value <= self.hi else None

    @property
    def ends(self) -> tuple[str, str]:
        """The qualities at both ends of the axis."""
        if self.discrete:
            return format_quality(self.values[0]), format_quality(self.values[-1])
        return format_quality(self.lo), format_quality(self.hi)


def _inside(domain: QualityDomain, quality: Any) -> bool:
    """Whether ``quality`` is a point of the domain's range (not one of its isolated extra values)."""
    try:
        value = domain.canonical(quality)
    except ValueError:
        return False
    return (domain.min is None or value >= domain.min) and (domain.max is None or value <= domain.max)


@dataclass
class Points:
    """What is known of one image: the bpp of each quality coded (ok) and the error of each that failed."""

    bpp: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def knows(self, quality: str) -> bool:
        return quality in self.bpp or quality in self.errors


@dataclass
class Match:
    """The outcome of one search: the chosen quality and its rate, the points on either side of the
    target (quality, bpp), how many points the search asked for, and why it ended where it did."""

    image: str
    target: float
    status: str
    quality: str | None = None
    bpp: float | None = None
    below: tuple[str, float] | None = None
    above: tuple[str, float] | None = None
    tries: int = 0
    reason: str | None = None

    @property
    def deviation(self) -> float | None:
        """(achieved - target) / target; None when nothing was chosen."""
        return None if self.bpp is None else self.bpp / self.target - 1


Search = Generator[str, None, Match]


def search(space: Space, target: float, tolerance: float, points: Points, image: str = "") -> Search:
    """One image's search for ``target``: yields each quality it needs coded (the caller codes it and
    adds it to ``points`` before resuming) and returns the :class:`Match`.

    Each step takes the tightest pair of known points around the target (adjacent on the axis), and
    codes the value its log-rate interpolation gives (kept 5 % inside the pair), or the midpoint when
    the previous interpolation did not halve the pair: the JPEG AI matcher's interpolation and
    bisection, with the bisection as the guarantee. Points already known (stored, or coded for another
    target of the same image) cost nothing. Fixed models are not searched: :func:`_every_model`."""
    if space.control == "models":
        return (yield from _every_model(space, target, tolerance, points, image))
    tries = 0
    asked: list[str] = []
    for quality in space.start:
        if not points.knows(quality):
            asked.append(quality)
            tries += 1
            yield quality
    last_width: float | None = None
    while True:
        for quality in asked:
            if quality in points.errors:
                return Match(image, target, FAILED, tries=tries, reason=f"quality {quality} failed: "
                             f"{points.errors[quality]}")
        known = sorted((c, bpp, q) for q, bpp in points.bpp.items() if (c := space.coordinate(q)) is not None)
        if not space.discrete:
            within = [(abs(bpp / target - 1), c, bpp, q) for c, bpp, q in known if abs(bpp / target - 1) <= tolerance]
            if within:
                _, _, bpp, quality = min(within)
                return Match(image, target, MATCHED, quality, bpp, tries=tries)
        lower = [p for p in known if p[1] < target]
        upper = [p for p in known if p[1] >= target]
        if not lower or not upper:
            rising = len(known) < 2 or known[-1][1] >= known[0][1]  # does the rate grow along the axis?
            end = space.ends[1 if rising == (not upper) else 0]
            if not points.knows(end):
                asked.append(end)
                tries += 1
                yield end
                continue
            _, bpp, quality = max(known, key=lambda p: p[1]) if not upper else min(known, key=lambda p: p[1])
            side = "above the highest" if not upper else "below the lowest"
            return Match(image, target, ABOVE if not upper else BELOW, quality, bpp, tries=tries,
                         reason=f"{target:g} bpp is {side} rate the codec reaches on this image ({bpp:.4g} bpp "
                                f"at quality {quality})")
        pairs = [(b[0] - a[0], a, b) for a, b in zip(known, known[1:]) if (a[1] < target) != (b[1] < target)]
        _, left, right = min(pairs)
        width = right[0] - left[0]
        if last_width is not None and width > last_width / 2:
            spot, last_width = (left[0] + right[0]) / 2, None
        else:
            share = (math.log(target) - math.log(left[1])) / (math.log(right[1]) - math.log(left[1]))
            spot, last_width = left[0] + min(max(share, 0.05), 0.95) * width, width
        quality = space.quality_at(spot, left[0], right[0])
        if quality is None or points.knows(quality):
            below, above = (left, right) if left[1] < target else (right, left)
            chosen = min((below, above), key=lambda p: abs(p[1] / target - 1))
            status = MATCHED if abs(chosen[1] / target - 1) <= tolerance else NEAREST
            reason = None
            if status == NEAREST:
                reason = ("the nearest whole-number qualities on each side" if space.discrete else
                          "no value between the two nearest points changes the rate")
            return Match(image, target, status, chosen[2], chosen[1], (below[2], below[1]), (above[2], above[1]),
                         tries, reason)
        asked.append(quality)
        tries += 1
        yield quality


def _every_model(space: Space, target: float, tolerance: float, points: Points, image: str) -> Search:
    """A fixed-model codec's choice: every model is coded (the few there are; each image's points serve all
    its targets), then the nearest rate on each side of the target is taken, the closer one chosen.

    WHY not a search: a search assumes the rate grows with the model index, and models trained (or, for
    the ``*-random`` configurations, drawn) one by one need not; coding them all makes the choice exact
    whatever their order, and the reason says when the rates are not monotonic on the image."""
    tries = 0
    for value in space.values:
        quality = format_quality(value)
        if not points.knows(quality):
            tries += 1
            yield quality
            if quality in points.errors:
                return Match(image, target, FAILED, tries=tries, reason=f"quality {quality} failed: "
                             f"{points.errors[quality]}")
    known = [(points.bpp[q], index, q) for index, value in enumerate(space.values)
             if (q := format_quality(value)) in points.bpp]
    if not known:
        return Match(image, target, FAILED, tries=tries, reason="no model gave a point")
    by_index = [bpp for bpp, _, _ in known]
    aside = "" if by_index == sorted(by_index) else "; the models' rates are not monotonic in their index on this image"
    lower = [p for p in known if p[0] < target]
    upper = [p for p in known if p[0] >= target]
    if not lower or not upper:
        bpp, _, quality = max(known) if not upper else min(known)
        side = "above the highest" if not upper else "below the lowest"
        return Match(image, target, ABOVE if not upper else BELOW, quality, bpp, tries=tries,
                     reason=f"{target:g} bpp is {side} rate the codec reaches on this image ({bpp:.4g} bpp at "
                            f"quality {quality}){aside}")
    below, above = max(lower), min(upper)  # among equal rates, the models next to the target's other side
    chosen = min((below, above), key=lambda p: abs(p[0] / target - 1))
    status = MATCHED if abs(chosen[0] / target - 1) <= tolerance else NEAREST
    return Match(image, target, status, chosen[2], chosen[0], (below[2], below[0]), (above[2], above[0]), tries,
                 f"{MODELS_REASON}{aside}")


#: The reason of every fixed-model choice in range.
MODELS_REASON = "the nearest models on each side"


@dataclass
class CodecTargets:
    """One codec configuration's matches on a dataset, and what they cost."""

    config: CodecConfig
    control: str
    #: the identity of the weights the searches coded with (:func:`weight_set`), part of each choice's key
    weights: str = ""
    #: the tolerance searched to (a fraction of the target), part of each choice's key
    tolerance: float = 0.0
    #: the device label and code identity the points were coded with (each choice's key has them too)
    device: str = ""
    code: str = ""
    matches: list[Match] = field(default_factory=list)
    #: Points coded by the searches (records stored by this run), besides those of the first round.
    encodes: int = 0


def start_qualities(configs: Sequence[CodecConfig], context: CodecContext) -> dict[str, list[str]]:
    """The first points of every search (the ends of each codec's sweep), coded as a plain run's jobs
    before the searches begin; also the check that every codec has a searchable domain."""
    return {config.name: list(_space(config, context).start) for config in configs}


def _space(config: CodecConfig, context: CodecContext) -> Space:
    adapter = load_adapter(config.adapter)
    return Space.of(config, adapter, job_context(adapter, context))


def match(store: Store, configs: Sequence[CodecConfig], dataset: Dataset, context: CodecContext,
          targets: Sequence[float], tolerance: float, run: Callable[[list[Job]], list[Record]], *,
          keep_bitstreams: str | None = None, retry_failed: bool = False,
          metrics: Sequence[str] = ()) -> list[CodecTargets]:
    """Search every image of ``dataset`` for every target with every codec of ``configs``, coding the
    points the searches ask for through ``run`` (which stores each record and returns them), and store
    each outcome in ``rate_targets``. ``tolerance`` is a fraction of the target; ``metrics``: the
    on-request metrics every coded point computes too (``--metrics``)."""
    hashes = dataset.image_hashes
    refs = [ref for ref in dataset.images if hashes[ref.name] != "missing"]
    results: list[CodecTargets] = []
    searches: dict[tuple[int, str, float], Search] = {}
    known: dict[tuple[int, str], Points] = {}
    setups = []
    for index, config in enumerate(configs):
        adapter = load_adapter(config.adapter)
        codec_context = job_context(adapter, context)
        space = Space.of(config, adapter, codec_context)
        code = code_identity(adapter)
        weights = _weights(adapter, config, codec_context)
        identity, models = weight_set(space, weights)
        setups.append((config, codec_context, code, weights, models))
        results.append(CodecTargets(config, space.control, identity, tolerance, codec_context.label, code))
        stored = store.find_records(selections=[{"codec": config.name, "config_hash": config.config_hash,
                                                 "device": codec_context.label, "code": code}],
                                    datasets=[dataset.name], stale=False)
        for ref in refs:
            known[index, ref.name] = Points()
        for record in stored:
            points = known.get((index, record.image))
            if points is None or record.image_hash != hashes[record.image] or \
                    record.weights != weights(record.quality)[0]:
                continue
            if record.ok and record.bpp is not None:
                points.bpp[record.quality] = record.bpp
            elif not retry_failed:
                points.errors[record.quality] = record.error or "failed"
        for ref in refs:
            for target in targets:
                searches[index, ref.name, target] = search(space, target, tolerance, known[index, ref.name], ref.name)
    matches: dict[tuple[int, str, float], Match] = {}
    pending = _advance(searches, known, matches)
    by_name = {ref.name: ref for ref in refs}
    while pending:
        wanted = sorted({(index, image, quality) for (index, image, _), quality in pending.items()})
        jobs = []
        for index, image, quality in wanted:
            config, codec_context, code, weights, _ = setups[index]
            ref = by_name[image]
            weight, weight_path = weights(quality)
            jobs.append(Job(config=config, context=codec_context, quality=quality, dataset=dataset.name,
                            image_name=image, image_path=str(ref.path), image_hash=hashes[image],
                            keep_bitstreams=keep_bitstreams, weights=weight, weights_path=weight_path, code=code,
                            metrics=tuple(metrics)))
        index_of = {(c.name, c.config_hash): i for i, c in enumerate(configs)}
        for record in run(jobs):
            index = index_of[record.codec, record.config_hash]
            results[index].encodes += 1
            points = known[index, record.image]
            if record.ok and record.bpp is not None:
                points.bpp[record.quality] = record.bpp
            else:
                points.errors[record.quality] = record.error or "failed"
        for index, image, quality in wanted:  # a job that gave no record (a run torn down) ends its searches
            points = known[index, image]
            if not points.knows(quality):
                points.errors[quality] = "no record came back"
        pending = _advance({key: searches[key] for key in pending}, known, matches)
    for (index, _, _), outcome in sorted(matches.items(), key=lambda item: (item[0][0], item[0][2], item[0][1])):
        results[index].matches.append(outcome)
    store.put_rate_targets(_marks(store, results, setups, dataset, hashes, tolerance))
    return results


def _advance(searches: dict[tuple[int, str, float], Search], known: dict[tuple[int, str], Points],
             matches: dict[tuple[int, str, float], Match]) -> dict[tuple[int, str, float], str]:
    """Resume each search until it asks for a point not known yet (returned, per search) or ends."""
    pending = {}
    for key, running in searches.items():
        points = known[key[0], key[1]]
        try:
            quality = next(running)
            while points.knows(quality):
                quality = next(running)
            pending[key] = quality
        except StopIteration as stop:
            matches[key] = stop.value
    return pending


def weight_set(space: Space, weights: Callable[[str], tuple[str, str | None]]) -> tuple[str, list[str] | None]:
    """(identity, models) of the weights a search of ``space`` codes with: the one identity its qualities
    share ("" without weights, ``seed:N``, one checkpoint's hash), else, for models with a checkpoint each
    (``--checkpoint-dir``), ``models:<sha256>`` of every quality's identity, with the list of them.

    WHY part of a choice's key: two checkpoint folders of one learned codec have one configuration and
    other weights; their choices must stand side by side, as their records do."""
    qualities = [format_quality(v) for v in space.values] if space.discrete else list(space.start)
    each = {quality: weights(quality)[0] for quality in qualities}
    distinct = sorted(set(each.values()))
    if len(distinct) <= 1:
        return (distinct[0] if distinct else "", None)
    digest = hashlib.sha256(json.dumps(each, sort_keys=True).encode()).hexdigest()
    return (f"models:{digest}", distinct)


def _weights(adapter: type[Codec], config: CodecConfig,
             context: CodecContext) -> Callable[[str], tuple[str, str | None]]:
    """The weights identity (and file) of each quality, asked once per quality."""
    cache: dict[str, tuple[str, str | None]] = {}

    def of(quality: str) -> tuple[str, str | None]:
        if quality not in cache:
            cache[quality] = adapter.weights_identity(config, context, parse_quality(quality))
        return cache[quality]

    return of


def _marks(store: Store, results: list[CodecTargets], setups: list[tuple], dataset: Dataset,
           hashes: dict[str, str], tolerance: float) -> list[dict[str, Any]]:
    """The ``rate_targets`` rows of the matches: the stored record of each chosen and neighbouring point."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    for result, (config, context, code, weights, models) in zip(results, setups):
        def record_id(quality: str | None, image: str) -> int | None:
            if quality is None:
                return None
            return store.record_id((config.name, config.config_hash, quality, dataset.name, image, hashes[image],
                                    weights(quality)[0], context.label, code))

        for outcome in result.matches:
            rows.append({"codec": config.name, "config_hash": config.config_hash, "dataset": dataset.name,
                         "image": outcome.image, "image_hash": hashes[outcome.image], "device": context.label,
                         "code": code, "weights": result.weights,
                         "models": json.dumps(models) if models else None, "target_bpp": outcome.target,
                         "tolerance": tolerance,
                         "control": result.control, "status": outcome.status, "reason": outcome.reason,
                         "record_id": record_id(outcome.quality, outcome.image),
                         "below_id": record_id(outcome.below[0] if outcome.below else None, outcome.image),
                         "above_id": record_id(outcome.above[0] if outcome.above else None, outcome.image),
                         "deviation": outcome.deviation, "tries": outcome.tries, "created_at": now})
    return rows
