"""`CallLogWriter`: the call log's one surface for the app (record, stats, health, close).

The event loop hands results to `record`; a coordinator thread of our own (`pipeline.py`) writes
them in batches to the database, or to the local spool when the database is down or slow, and
replays the spool when it is back. docs/call-log.md explains the two modes.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from app.calllog.intake import Intake
from app.calllog.orphans import PeriodicAdoption, adopt_orphans
from app.calllog.pipeline import Pipeline
from app.calllog.spool import Spool, SpoolFullError
from app.calllog.status import CallLogBackpressureError, Durability, WriterHealth, WriterStats
from app.core.config import Settings
from app.integrations.schemas import ExternalResponse

logger = logging.getLogger(__name__)


class CallLogWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        durability: Durability = Durability.STRICT,
        spool_dir: Path = Path("data") / "spool",
        spool_max_bytes: int = 256 * 1024 * 1024,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        commit_timeout_s: float = 0.09,
        strict_max_wait_s: float = 5.0,
        max_queue_rows: int = 100_000,
    ) -> None:
        self.durability = durability
        self._engine = engine
        self._strict_max_wait_s = strict_max_wait_s
        self._intake = Intake(max_queue_rows)
        self._spool = Spool(spool_dir, spool_max_bytes)
        self._pipeline = Pipeline(
            engine,
            self._intake,
            self._spool,
            strict=durability is Durability.STRICT,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            commit_timeout_s=commit_timeout_s,
        )
        self._thread = threading.Thread(
            target=self._pipeline.run, name="calllog-writer", daemon=True
        )
        self._journal: Spool | None = None

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> "CallLogWriter":
        return cls(
            engine,
            durability=Durability(settings.log_durability),
            spool_dir=settings.log_spool_dir,
            spool_max_bytes=settings.log_spool_max_bytes,
            batch_size=settings.log_batch_size,
            flush_interval_s=settings.log_flush_interval_ms / 1000,
            commit_timeout_s=settings.log_commit_timeout_ms / 1000,
            strict_max_wait_s=settings.log_strict_max_wait_ms / 1000,
            max_queue_rows=settings.log_queue_max_rows,
        )

    @property
    def spool_path(self) -> Path | None:
        return self._spool.path

    def start(self) -> None:
        """Open (and lock) the spool, then start the thread, which replays what it holds.

        Strict mode also opens the slot's journal. Rows a crashed run left there were made
        durable but maybe never stored: they move to the spool, and the replay stores them.
        """
        self._spool.open()
        if self.durability is Durability.STRICT and self._spool.path is not None:
            # Synced as the database syncs a commit: PostgreSQL does; SQLite in WAL mode with
            # synchronous=NORMAL (`core/db.py`) survives a crashed process, not a lost machine.
            synced = self._engine.dialect.name != "sqlite"
            journal = Spool(self._spool.path.parent, self._spool.max_bytes, sync=synced)
            journal.open_at(self._spool.path.with_suffix(".journal"))
            if self._adopt_journal(journal):
                self._pipeline.journal = self._journal = journal
        # Slots of processes that are gone (fewer workers now than before): their rows too.
        adopt_orphans(self._spool)
        self._pipeline.adopt = PeriodicAdoption()
        self._thread.start()

    def _adopt_journal(self, journal: Spool) -> bool:
        if not journal.pending_rows:
            return True
        left = journal.read_chunk(journal.pending_rows)
        try:
            self._spool.append(left.rows)
        except (SpoolFullError, OSError) as exc:
            # Kept where they are for the next start; this run commits to the database first.
            logger.error(
                "call log: %d journaled rows from a previous run cannot move to the spool "
                "(%s); they stay in %s, and strict mode runs without a journal",
                len(left.rows),
                exc,
                journal.path,
            )
            journal.close()
            return False
        logger.warning(
            "call log: %d journaled rows of a previous run moved to the spool", len(left.rows)
        )
        journal.clear()
        return True

    async def record(self, request_id: str, results: Sequence[ExternalResponse]) -> None:
        """Log one fan-out's results; in strict mode return once they are durable.

        Raises CallLogBackpressureError when strict mode cannot make them durable within
        `strict_max_wait_s` (queue full and the spool unwritable): the rows stay queued.
        """
        if self.durability is Durability.FAST or not results:
            self.submit(request_id, results)
            return
        deadline = time.monotonic() + self._strict_max_wait_s
        durable = await self._intake.put_strict(request_id, results, deadline)
        done, _ = await asyncio.wait({durable}, timeout=max(deadline - time.monotonic(), 0))
        if not done:
            raise CallLogBackpressureError(
                f"call log rows not durable within {self._strict_max_wait_s:.1f} s"
            )

    def submit(self, request_id: str, results: Sequence[ExternalResponse]) -> None:
        """Queue results without waiting (fast mode's path); never blocks on the database."""
        if results:
            self._intake.put_fast(request_id, results)

    def stats(self) -> WriterStats:
        p, spool = self._pipeline, self._spool
        return WriterStats(
            durability=self.durability.value,
            queued=self._intake.rows,
            written=p.written,
            spooled=p.spooled,
            replayed=p.replayed,
            journaled=p.journaled,
            dropped=self._intake.dropped,
            failed_batches=p.failed_batches,
            slow_batches=p.slow_batches,
            spool_rows=spool.pending_rows,
            spool_bytes=spool.size,
            spool_max_bytes=spool.max_bytes,
            database_available=p.database_available,
            alarm=p.spool_problem is not None or self._intake.dropping,
        )

    def health(self) -> WriterHealth:
        reasons: list[str] = []
        if not self._thread.is_alive():
            reasons.append("call log writer thread is not running")
        if self._pipeline.spool_problem is not None:
            reasons.append(self._pipeline.spool_problem)
        if self._intake.dropping:
            reasons.append("call log queue and spool spill full: rows are being dropped")
        elif self._intake.rows >= self._intake.max_rows:
            reasons.append(f"call log queue full ({self._intake.max_rows} rows)")
        return WriterHealth(healthy=not reasons, reasons=tuple(reasons))

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush the queue to the database or the spool, then stop (blocking: off the loop)."""
        self._pipeline.close_deadline = time.monotonic() + timeout_s
        self._intake.wake(closing=True)
        if self._thread.is_alive():
            self._thread.join(timeout_s + 1.0)
        if not self._thread.is_alive():  # a thread stuck in the database may still use it
            self._spool.close()
            if self._journal is not None:
                self._journal.close()
        left = self._intake.rows
        if left:
            logger.error(
                "call log writer stopped with %d rows neither in the database nor the spool", left
            )
