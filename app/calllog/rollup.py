"""The per-provider, 5-minute rollup of the call log: tallied in Python, merged in SQL.

The writer tallies the rows a transaction actually inserted (one entry per provider and
bucket) and merges the tally into `external_api_log_rollups` in that same transaction, so a
bucket always equals the rows beside it, replays and crashes included. `rebuild_rollups`
recomputes buckets from the rows themselves: the migration's backfill, the benchmark, and rows
written behind the writer's back (`python -m app rebuild-rollups`).

Merging is read-modify-write. PostgreSQL: create the missing buckets (`ON CONFLICT DO
NOTHING RETURNING` says which were created), lock the others (`FOR UPDATE`), add, update; always
in key order, so concurrent writers (one per worker process) cannot deadlock on them. SQLite has
one writer at a time, and the rows' insert already holds its lock: read every bucket concerned
as one JSON value, add, upsert them all from one JSON parameter. Two statements and two result
steps whatever the batch, because sqlite3 releases and retakes the GIL on every step, and each
retake can wait a whole switch interval (5 ms) while the event loop is busy.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Table

from app.calllog import histogram
from app.models import ROLLUP_BUCKET_S, ExternalApiLogRollup

ROLLUPS = cast(Table, ExternalApiLogRollup.__table__)
Key = tuple[int, str]  # (bucket start in seconds since 1970, provider)
# (created_at, provider, success, is_validation_error, error_kind, response_time_ms)
Call = tuple[datetime, str, bool, bool, str | None, float]


def epoch_seconds(value: datetime) -> float:
    """SQLite hands back naive UTC; every stored time is UTC."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def bucket_of(value: datetime) -> int:
    return int(epoch_seconds(value)) // ROLLUP_BUCKET_S * ROLLUP_BUCKET_S


def bucket_time(start: int) -> datetime:
    return datetime.fromtimestamp(start, UTC)


@dataclass(slots=True)
class BucketTally:
    """The counters of a rollup bucket, or of any sum of buckets (a provider over a window, a
    point of the series): what `external_api_log_rollups` stores per bucket and provider.

    The latency histogram is packed (`histogram.packed`), so adding two tallies' latencies is
    one integer addition: reading a long window adds up thousands of stored buckets.
    """

    calls: int = 0
    succeeded: int = 0
    validation_errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    latencies: int = 0  # packed: see histogram.packed

    def add(self, other: "BucketTally") -> None:
        self.calls += other.calls
        self.succeeded += other.succeeded
        self.validation_errors += other.validation_errors
        self.latencies += other.latencies
        kinds = self.errors_by_kind
        for kind, n in other.errors_by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n

    def plus_stored(self, stored: Sequence[Any]) -> "BucketTally":
        """This tally added to a stored bucket (a row in `_COLUMNS` order)."""
        kinds = dict(stored[5])
        for kind, n in self.errors_by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
        return BucketTally(
            self.calls + stored[2],
            self.succeeded + stored[3],
            self.validation_errors + stored[4],
            kinds,
            self.latencies + histogram.packed(stored[6], stored[7]),
        )

    def columns(self) -> dict[str, Any]:
        first, counts = histogram.dense(self.latencies)
        return {
            "calls": self.calls,
            "succeeded": self.succeeded,
            "validation_errors": self.validation_errors,
            "errors_by_kind": self.errors_by_kind,
            "latency_first_bin": first,
            "latency_counts": counts,
        }

    def percentiles(self, fractions: Sequence[float]) -> list[float | None]:
        """Read from the histogram: within `histogram.RELATIVE_ERROR_BOUND` of the exact ones."""
        return histogram.percentiles(histogram.unpacked(self.latencies), fractions)


def tally(calls: Iterable[Call]) -> dict[Key, BucketTally]:
    """Calls counted per (bucket, provider)."""
    counted: dict[Key, tuple[BucketTally, dict[int, int]]] = {}
    for created_at, provider, success, validation, kind, ms in calls:
        key = (bucket_of(created_at), provider)
        found = counted.get(key)
        if found is None:
            found = counted[key] = (BucketTally(), {})
        bucket, bins = found
        bucket.calls += 1
        bucket.succeeded += success
        bucket.validation_errors += validation
        if kind is not None:
            bucket.errors_by_kind[kind] = bucket.errors_by_kind.get(kind, 0) + 1
        # A dict increment per call and one packing per bucket: adding a packed call instead
        # costs an integer of a few hundred digits per call.
        b = histogram.latency_bin(ms)
        bins[b] = bins.get(b, 0) + 1
    for bucket, bins in counted.values():
        bucket.latencies = histogram.packed(*histogram.to_dense(bins))
    return {key: bucket for key, (bucket, _) in counted.items()}


def tally_rows(rows: Iterable[Mapping[str, Any]]) -> dict[Key, BucketTally]:
    """The writer's rows (`row.to_row` dicts)."""
    return tally(
        (
            r["created_at"],
            r["provider"],
            r["success"],
            r["is_validation_error"],
            r["error_kind"],
            r["response_time_ms"],
        )
        for r in rows
    )


_COLUMNS = (
    "bucket_start",
    "provider",
    "calls",
    "succeeded",
    "validation_errors",
    "errors_by_kind",
    "latency_first_bin",
    "latency_counts",
)
_JSON_COLUMNS = ("errors_by_kind", "latency_counts")
_PG_TYPES = ("timestamptz", "varchar", "int", "int", "int", "json", "int", "json")
_PG_ARRAYS = ", ".join(f"%({c})s::{t}[]" for c, t in zip(_COLUMNS, _PG_TYPES, strict=True))
_PG_KEYS = (
    "unnest(%(bucket_start)s::timestamptz[], %(provider)s::varchar[]) AS k(bucket_start, provider)"
)
# Identifiers come from our own table metadata; every value is a bound parameter. Each
# statement takes its buckets in key order (the arrays are sorted): no deadlock between writers.
_PG_CREATE = (
    f"INSERT INTO {ROLLUPS.name} ({', '.join(_COLUMNS)}) SELECT * FROM unnest({_PG_ARRAYS})"  # noqa: S608
    " ON CONFLICT (bucket_start, provider) DO NOTHING RETURNING bucket_start, provider"
)
_PG_LOCK = (
    f"SELECT {', '.join(f'r.{c}' for c in _COLUMNS)} FROM {ROLLUPS.name} r"  # noqa: S608
    f" JOIN {_PG_KEYS} USING (bucket_start, provider)"
    " ORDER BY r.bucket_start, r.provider FOR UPDATE OF r"
)
_PG_UPDATE = (
    f"UPDATE {ROLLUPS.name} r SET {', '.join(f'{c} = v.{c}' for c in _COLUMNS[2:])}"  # noqa: S608
    f" FROM unnest({_PG_ARRAYS}) AS v({', '.join(_COLUMNS)})"
    " WHERE r.bucket_start = v.bucket_start AND r.provider = v.provider"
)
_AS_JSON_ARRAY = ", ".join(f"json({c})" if c in _JSON_COLUMNS else c for c in _COLUMNS)
# Identifiers come from our own table metadata; every value is a bound parameter.
_SQLITE_STORED = (
    f"SELECT json_group_array(json_array({_AS_JSON_ARRAY})) FROM {ROLLUPS.name}"  # noqa: S608
    " WHERE bucket_start IN (SELECT value FROM json_each(?))"
    " AND provider IN (SELECT value FROM json_each(?))"
)
# `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
_SQLITE_UPSERT = (
    f"INSERT INTO {ROLLUPS.name} ({', '.join(_COLUMNS)}) SELECT "  # noqa: S608
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMNS)))
    + " FROM json_each(?) WHERE true ON CONFLICT (bucket_start, provider) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
)


def merge(conn: Connection, tallies: Mapping[Key, BucketTally]) -> None:
    """Add `tallies` to the stored buckets, inside the caller's transaction."""
    if not tallies:
        return
    if conn.dialect.name == "postgresql":
        _merge_postgres(conn, tallies)
    else:
        _merge_sqlite(conn, tallies)


def _merge_postgres(conn: Connection, tallies: Mapping[Key, BucketTally]) -> None:
    """Three statements whatever the batch: create the new buckets, lock the others, update."""
    pending = sorted(tallies)
    while pending:
        created = {
            (bucket_of(start), name)
            for start, name in conn.exec_driver_sql(
                _PG_CREATE, _pg_arrays([(key, tallies[key]) for key in pending])
            )
        }
        existing = [key for key in pending if key not in created]
        if not existing:
            return
        keys = {
            "bucket_start": [bucket_time(k[0]) for k in existing],
            "provider": [k[1] for k in existing],
        }
        merged = []
        for row in conn.exec_driver_sql(_PG_LOCK, keys):
            key = (bucket_of(row[0]), row[1])
            merged.append((key, tallies[key].plus_stored(row)))
        if merged:
            conn.exec_driver_sql(_PG_UPDATE, _pg_arrays(merged))
        # A bucket deleted between the insert and the lock (retention) is created again.
        found = {key for key, _ in merged}
        pending = [key for key in existing if key not in found]


def _pg_arrays(buckets: Sequence[tuple[Key, BucketTally]]) -> dict[str, list[Any]]:
    """One array per column, for `unnest`; JSON values as text."""
    arrays: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    for (start, name), bucket in buckets:
        arrays["bucket_start"].append(bucket_time(start))
        arrays["provider"].append(name)
        for column, value in bucket.columns().items():
            arrays[column].append(
                orjson.dumps(value).decode() if column in _JSON_COLUMNS else value
            )
    return arrays


def _merge_sqlite(conn: Connection, tallies: Mapping[Key, BucketTally]) -> None:
    dialect = conn.dialect
    to_text = ROLLUPS.c.bucket_start.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_text is not None  # SQLite stores datetimes as text in its own format
    stored_as = {start: to_text(bucket_time(start)) for start, _ in tallies}
    started_at = {text: start for start, text in stored_as.items()}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        found = cursor.execute(
            _SQLITE_STORED,
            (
                # Text, not bytes: SQLite 3.45+ reads a BLOB argument as binary JSONB.
                orjson.dumps(list(stored_as.values())).decode(),
                orjson.dumps(sorted({name for _, name in tallies})).decode(),
            ),
        ).fetchone()
        merged = dict(tallies)
        # Buckets x providers may name a few buckets this batch does not touch: skip them.
        for row in orjson.loads(found[0]):
            key = (started_at[row[0]], row[1])
            if key in merged:
                merged[key] = merged[key].plus_stored(row)
        values = [
            [stored_as[key[0]], key[1], *merged[key].columns().values()] for key in sorted(merged)
        ]
        cursor.execute(_SQLITE_UPSERT, (orjson.dumps(values).decode(),))
    finally:
        cursor.close()
