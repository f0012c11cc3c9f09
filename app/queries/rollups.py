"""Stats over windows longer than an hour: the 5-minute rollup, plus the rows at the edges.

Whole buckets inside the window come from `external_api_log_rollups` (288 per provider a day,
whatever the call rate); the two partial buckets at the window's edges come from the rows
themselves, tallied by the writer's own `rollup.tally`. Counts, rates and error kinds are
therefore exact; p50/p95/p99 and the series' p95 are read from the merged latency histogram,
within `histogram.RELATIVE_ERROR_BOUND` of `percentile_cont`. The merge runs in Python on both
databases, so PostgreSQL and SQLite answer the same numbers.
"""

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.calllog import histogram
from app.calllog.rollup import ROLLUPS, BucketTally, bucket_of, tally
from app.core.errors import ErrorKind
from app.models import ROLLUP_BUCKET_S, ExternalApiLog
from app.queries.logs import as_utc
from app.queries.schemas import SeriesPoint
from app.queries.stats import (
    PERCENTILES,
    ProviderFigures,
    last_errors,
    series_points,
)

# Windows up to this long keep exact percentiles (`stats.py`): their rows are few.
EXACT_WINDOW_MAX_S = 3600

_KNOWN_KINDS = tuple(kind.value for kind in ErrorKind)
log = ExternalApiLog
_K = TypeVar("_K")


def uses_rollup(window_s: int, bucket_s: int) -> bool:
    # A series bucket must be whole rollup buckets, so each stored bucket falls in one of them.
    return window_s > EXACT_WINDOW_MAX_S and bucket_s % ROLLUP_BUCKET_S == 0


@lru_cache(maxsize=4)
def _stored_buckets(filtered: bool) -> Any:
    c = ROLLUPS.c
    query = select(
        c.bucket_start,
        c.provider,
        c.calls,
        c.succeeded,
        c.validation_errors,
        c.errors_by_kind,
        c.latency_first_bin,
        c.latency_counts,
    ).where(c.bucket_start >= bindparam("lo"), c.bucket_start < bindparam("hi"))
    if filtered:
        query = query.where(c.provider.in_(bindparam("names", expanding=True)))
    return query


@lru_cache(maxsize=4)
def _edge_rows(filtered: bool) -> Any:
    # In the order of `rollup.Call`: the rows are tallied as the writer tallies them.
    query = select(
        log.created_at,
        log.provider,
        log.success,
        log.is_validation_error,
        log.error_kind,
        log.response_time_ms,
    ).where(log.created_at >= bindparam("lo"), log.created_at < bindparam("hi"))
    if filtered:
        query = query.where(log.provider.in_(bindparam("names", expanding=True)))
    return query


def rollup_window(
    session: Session,
    since: datetime,
    until: datetime,
    bucket_s: int,
    providers: Sequence[str] | None,
) -> tuple[list[ProviderFigures], list[SeriesPoint]]:
    """Per-provider figures and the series of [since, until), as the exact path shapes them."""
    since, until = as_utc(since), as_utc(until)
    start_s, end_s = since.timestamp(), until.timestamp()
    inner_lo = math.ceil(start_s / ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S
    inner_hi = math.floor(end_s / ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S
    extra: dict[str, Any] = {"names": list(providers)} if providers else {}
    figures: dict[str, BucketTally] = {}
    buckets: dict[int, BucketTally] = {}

    if inner_lo >= inner_hi:  # no whole bucket: the window is one partial bucket
        stored: Iterable[Any] = ()
        edges = [(since, until)]
    else:
        stored = session.execute(
            _stored_buckets(bool(providers)),
            {"lo": _at(inner_lo), "hi": _at(inner_hi), **extra},
        )
        edges = [(since, _at(inner_lo)), (_at(inner_hi), until)]
    # Thousands of buckets (40,000 for 7 days of 20 providers): the loop stays lean, adding
    # in place instead of building a `BucketTally` per stored bucket.
    series_totals_at: dict[datetime, BucketTally] = {}  # a bucket start recurs once per provider
    for start, name, calls, succeeded, validation, kinds, first_bin, counts in stored:
        series_totals = series_totals_at.get(start)
        if series_totals is None:
            series_totals = series_totals_at[start] = _get(buckets, bucket_of(start) // bucket_s)
        provider_totals = figures.get(name) or _get(figures, name)
        latencies = histogram.packed(first_bin, counts)
        provider_totals.calls += calls
        provider_totals.succeeded += succeeded
        provider_totals.validation_errors += validation
        provider_totals.latencies += latencies
        series_totals.calls += calls
        series_totals.succeeded += succeeded
        series_totals.latencies += latencies
        if kinds:
            merged = provider_totals.errors_by_kind
            for kind, count in kinds.items():
                merged[kind] = merged.get(kind, 0) + count

    # A partial bucket lies inside one series bucket: series buckets are whole rollup buckets.
    for lo, hi in edges:
        if lo >= hi:
            continue
        series_totals = _get(buckets, int(lo.timestamp()) // bucket_s)
        rows = session.execute(_edge_rows(bool(providers)), {"lo": lo, "hi": hi, **extra})
        for (_, name), edge in tally(rows).items():
            _get(figures, name).add(edge)
            series_totals.add(edge)

    results = [_figures(name, totals) for name, totals in sorted(figures.items())]
    failing = [f.provider for f in results if f.succeeded < f.calls]
    found_errors = last_errors(session, failing, since, until)
    for f in results:
        f.last_error = found_errors.get(f.provider)
    found = {
        n: (t.calls, t.calls - t.succeeded, t.percentiles((0.95,))[0])
        for n, t in buckets.items()
        if t.calls
    }
    first = int(start_s) // bucket_s
    last = (int(end_s) - 1) // bucket_s
    return results, series_points(found, first, last, bucket_s)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _get(totals: dict[_K, BucketTally], key: _K) -> BucketTally:
    found = totals.get(key)
    if found is None:
        found = totals[key] = BucketTally()
    return found


def _figures(name: str, totals: BucketTally) -> ProviderFigures:
    kinds = totals.errors_by_kind
    return ProviderFigures(
        provider=name,
        calls=totals.calls,
        succeeded=totals.succeeded,
        validation_errors=totals.validation_errors,
        # The exact path counts the known kinds only, in their declared order: so does this.
        errors_by_kind={k: kinds[k] for k in _KNOWN_KINDS if kinds.get(k)},
        percentiles=totals.percentiles(PERCENTILES),
    )
