"""Exact window statistics (windows up to an hour): `percentile_cont`, on both databases.

PostgreSQL computes everything in SQL, one index range per group (`_stats_pg.py`). SQLite
has no percentile aggregate: it counts in SQL, and the exact percentiles are taken from the
group's latencies (fetched through the covering index, sorted in Python, interpolated as
`percentile_cont` does), so both databases answer the same numbers. Longer windows read the
5-minute rollup instead (`rollups.py`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, false, func, select, text, union_all
from sqlalchemy.orm import Session

from app.core.errors import ErrorKind
from app.models import ExternalApiLog
from app.queries import _stats_pg
from app.queries.logs import as_utc
from app.queries.schemas import LastError, SeriesPoint

PERCENTILES = (0.5, 0.95, 0.99)
# Bucket sizes a chart reads well; the smallest giving at most ~60 points is used.
_NICE_BUCKETS_S = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_TARGET_POINTS = 60

log = ExternalApiLog


def bucket_seconds(window_s: int) -> int:
    for size in _NICE_BUCKETS_S:
        if window_s / size <= _TARGET_POINTS:
            return size
    return 86400


@dataclass(slots=True)
class ProviderFigures:
    provider: str
    calls: int
    succeeded: int
    validation_errors: int
    errors_by_kind: dict[str, int]
    percentiles: list[float | None]
    last_error: LastError | None = None


def percentile_cont(ordered: Sequence[float], p: float) -> float:
    """PostgreSQL's definition: linear interpolation between the two nearest ranks."""
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _in_window(lo: str = "since", hi: str = "until") -> Any:
    return and_(log.created_at >= bindparam(lo), log.created_at < bindparam(hi))


def _is_postgres(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    # Each group's percentile_cont sorts in memory; scoped to this read-only transaction.
    session.execute(text("SET LOCAL work_mem = '32MB'"))
    return True


# Statements are built once and reused with bound values: building SQLAlchemy expressions
# costs more CPU than running them on small windows.
@lru_cache(maxsize=4)
def _sqlite_counts(filtered: bool) -> Any:
    where = [_in_window()]
    if filtered:
        where.append(log.provider.in_(bindparam("names", expanding=True)))
    return (
        select(
            log.provider,
            func.count(),
            func.count().filter(log.success),
            func.count().filter(log.is_validation_error),
            *[func.count().filter(log.error_kind == kind.value) for kind in ErrorKind],
        )
        .where(*where)
        .group_by(log.provider)
        .order_by(log.provider)
    )


_SQLITE_LATENCIES = (
    "SELECT response_time_ms FROM external_api_logs"
    " WHERE provider = ? AND created_at >= ? AND created_at < ?"
)


def _sqlite_sorted_latencies(session: Session, name: str, params: dict[str, Any]) -> list[float]:
    """One provider's latencies in the window, sorted; an index range, no table reads.

    Straight through the sqlite3 cursor: a 24-hour window is ~140,000 floats, and a
    SQLAlchemy result row per value costs several times the query itself.
    """
    connection = session.connection()
    dialect = connection.dialect
    to_db = log.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    since, until = params["since"], params["until"]
    if to_db is not None:
        since, until = to_db(since), to_db(until)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        rows = cursor.execute(_SQLITE_LATENCIES, (name, since, until)).fetchall()
    finally:
        cursor.close()
    return sorted(row[0] for row in rows)


def provider_figures(
    session: Session, since: datetime, until: datetime, providers: Sequence[str] | None
) -> list[ProviderFigures]:
    """Calls, outcomes, error kinds, p50/p95/p99 and the newest failure per provider."""
    params: dict[str, Any] = {"since": as_utc(since), "until": as_utc(until)}
    if providers:
        params["names"] = list(providers)
    if _is_postgres(session):
        rows = session.execute(_stats_pg.figures_statement(bool(providers)), params).all()
    else:
        rows = session.execute(_sqlite_counts(bool(providers)), params).all()
    figures: dict[str, ProviderFigures] = {}
    kinds_end = 4 + len(ErrorKind)
    for row in rows:
        kinds = zip(ErrorKind, row[4:kinds_end], strict=True)
        figures[row[0]] = ProviderFigures(
            provider=row[0],
            calls=int(row[1]),
            succeeded=int(row[2]),
            validation_errors=int(row[3]),
            errors_by_kind={k.value: int(n) for k, n in kinds if n},
            percentiles=list(row[kinds_end]) if len(row) > kinds_end else [],
        )
    for figure in figures.values():
        if not figure.percentiles:  # SQLite
            values = _sqlite_sorted_latencies(session, figure.provider, params)
            figure.percentiles = [percentile_cont(values, p) for p in PERCENTILES]
    failing = [f.provider for f in figures.values() if f.succeeded < f.calls]
    for name, error in last_errors(session, failing, since, until).items():
        figures[name].last_error = error
    return list(figures.values())


@lru_cache(maxsize=64)
def _last_error_query(count: int) -> Any:
    # One LIMIT 1 per failing provider: each is a short walk of the partial failures index.
    parts = [
        select(log.provider, log.created_at, log.error_kind, log.status_code, log.error_message)
        .where(_in_window(), log.provider == bindparam(f"name_{i}"), log.success == false())
        .order_by(log.created_at.desc(), log.id.desc())
        .limit(1)
        .subquery()
        .select()
        for i in range(count)
    ]
    return union_all(*parts)


def last_errors(
    session: Session, providers: list[str], since: datetime, until: datetime
) -> dict[str, LastError]:
    """The newest failure of each provider in [since, until)."""
    if not providers:
        return {}
    names = {f"name_{i}": name for i, name in enumerate(providers)}
    window = {"since": as_utc(since), "until": as_utc(until)}
    rows = session.execute(_last_error_query(len(providers)), {**window, **names})
    return {
        row[0]: LastError(at=as_utc(row[1]), error_kind=row[2], status_code=row[3], message=row[4])
        for row in rows
    }


@lru_cache(maxsize=4)
def _sqlite_bucket_queries(filtered: bool) -> tuple[Any, Any]:
    where = [_in_window("lo", "hi")]
    if filtered:
        where.append(log.provider.in_(bindparam("names", expanding=True)))
    counts = select(func.count(), func.count().filter(log.success == false())).where(*where)
    # The two ranks around p95, counted from the top: SQLite keeps only `skip + 2` rows.
    near_p95 = (
        select(log.response_time_ms)
        .where(*where)
        .order_by(log.response_time_ms.desc())
        .limit(2)
        .offset(bindparam("skip"))
    )
    return counts, near_p95


def series(
    session: Session,
    since: datetime,
    until: datetime,
    bucket_s: int,
    providers: Sequence[str] | None,
) -> list[SeriesPoint]:
    """Calls, failures and p95 per bucket; empty buckets included, so charts keep their axis."""
    since, until = as_utc(since), as_utc(until)
    first = int(since.timestamp()) // bucket_s
    last = (int(until.timestamp()) - 1) // bucket_s
    found: dict[int, tuple[int, int, float | None]] = {}
    if _is_postgres(session):
        params: dict[str, Any] = {
            "since": since,
            "until": until,
            "first": first,
            "last": last,
            "bucket_s": bucket_s,
        }
        if providers:
            params["names"] = list(providers)
        statement = _stats_pg.series_statement(bool(providers))
        for n, calls, failures, p95 in session.execute(statement, params):
            found[int(n)] = (int(calls), int(failures), p95)
    else:
        found = _sqlite_series(session, since, until, bucket_s, first, last, providers)
    return series_points(found, first, last, bucket_s)


def series_points(
    found: dict[int, tuple[int, int, float | None]], first: int, last: int, bucket_s: int
) -> list[SeriesPoint]:
    """Buckets `first..last` (numbered from 1970 in `bucket_s` units), empty ones as zeros."""
    points = []
    for bucket in range(first, last + 1):
        calls, failures, p95 = found.get(bucket, (0, 0, None))
        start = datetime.fromtimestamp(bucket * bucket_s, UTC)
        points.append(SeriesPoint(start=start, calls=calls, failures=failures, p95_ms=p95))
    return points


def _sqlite_series(
    session: Session,
    since: datetime,
    until: datetime,
    bucket_s: int,
    first: int,
    last: int,
    providers: Sequence[str] | None,
) -> dict[int, tuple[int, int, float | None]]:
    # One index range per bucket: cheaper than computing a bucket key for every row.
    counts, near_p95 = _sqlite_bucket_queries(bool(providers))
    extra: dict[str, Any] = {"names": list(providers)} if providers else {}
    found: dict[int, tuple[int, int, float | None]] = {}
    for bucket in range(first, last + 1):
        lo = max(since, datetime.fromtimestamp(bucket * bucket_s, UTC))
        hi = min(until, datetime.fromtimestamp((bucket + 1) * bucket_s, UTC))
        params = {"lo": lo, "hi": hi, **extra}
        calls, failures = session.execute(counts, params).one()
        if not calls:
            continue
        # Ascending indexes low and low + 1 are descending indexes calls - 2 - low and on.
        position = 0.95 * (calls - 1)
        low = int(position)
        skip = max(calls - 2 - low, 0)
        pair = sorted(session.scalars(near_p95, {**params, "skip": skip}).all())
        p95 = pair[0] + (pair[-1] - pair[0]) * (position - low)
        found[bucket] = (calls, failures, p95)
    return found
