"""What the writer reports: the stable, typed surface `/readyz` and `/metrics` read."""

from dataclasses import dataclass
from enum import StrEnum


class Durability(StrEnum):
    STRICT = "strict"  # a response waits until its rows are durable (journal, database, spool)
    FAST = "fast"  # a response goes at once; rows are written soon after


class CallLogBackpressureError(Exception):
    """Strict mode could not make a response's rows durable in time; the client should retry."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since start (monotonic) and gauges (current values) of one writer."""

    durability: str
    queued: int  # gauge: rows in memory
    written: int  # rows committed to the database straight from the queue
    spooled: int  # rows made durable in the spool instead
    replayed: int  # spooled rows since re-inserted into the database
    dropped: int  # rows lost; each loss is also an ERROR log line
    failed_batches: int  # database writes that failed (the rows then went to the spool)
    slow_batches: int  # database writes not committed within the commit bound
    spool_rows: int  # gauge: rows in the spool waiting for replay
    spool_bytes: int  # gauge
    spool_max_bytes: int
    database_available: bool  # gauge: the last database write succeeded
    alarm: bool  # gauge: the spool is full or unwritable, or rows are being dropped
    journaled: int = 0  # strict mode: rows made durable in the journal before their answer


@dataclass(frozen=True, slots=True)
class WriterHealth:
    """`healthy` is false while rows cannot be made durable; `reasons` says why."""

    healthy: bool
    reasons: tuple[str, ...]
