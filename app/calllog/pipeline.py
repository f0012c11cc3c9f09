"""The coordinator thread: batches to the database within a bound, else to the spool; replay.

Every wait here is bounded. A batch goes to the database when it is believed up and idle; if
the commit has not finished within `commit_timeout_s` (a held lock, a slow disk) or fails, the
batch is appended to the spool instead and its waiters are released. A write left running is
harmless: its rows also sit in the spool, and the replay's ignore-on-conflict insert skips them.

Strict mode first appends whatever is queued to the journal (one synced record per group) and
releases those requests at once; the journaled rows then go to the database as fast mode's do,
in batches of up to `batch_size` or every `flush_interval_s`, but a flush never waits on an
earlier write (a replay, a stuck commit), so a slow database never holds up the journal. Once
a flush has put them in the database or the spool, the journal is cleared. The replay is paced
to a quarter of the database's time. A crash's journal moves to the spool at start (`writer.py`).
"""

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass

from sqlalchemy import Engine

from app.calllog.batch_spans import traced_batch
from app.calllog.dbworker import DbWorker, describe_db_error
from app.calllog.insert import BatchInsert
from app.calllog.intake import Entry, Intake, settle
from app.calllog.row import Row
from app.calllog.spool import Spool, SpoolChunk, SpoolFullError
from app.core import tracing

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0
_SPOOL_RETRY_S = 0.5
_REPLAY_REST = 3.0  # a replay uses the database at most a quarter of the time
_FAST_COMMIT_TIMEOUT_S = 1.0


@dataclass(slots=True)
class _Inflight:
    future: Future[None]
    chunk: SpoolChunk | None  # a replay; None for a batch already spooled after its bound
    started: float = 0.0


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        intake: Intake,
        spool: Spool,
        *,
        strict: bool,
        batch_size: int,
        flush_interval_s: float,
        commit_timeout_s: float,
    ) -> None:
        self._insert = BatchInsert(engine)
        self._intake = intake
        self._spool = spool
        # Strict mode commits whatever is queued as soon as the last commit ends (group
        # commit); only fast mode waits a window to fill the batch.
        self._window_s = 0.0 if strict else flush_interval_s
        self._batch_size = batch_size
        # Fast mode has nobody waiting on a commit: it spools only a database that is stuck,
        # not one that is merely busy. Spooling a batch writes it twice (spool, then replay),
        # which under CPU load made the load worse.
        self._commit_timeout_s = (
            commit_timeout_s if strict else max(commit_timeout_s, _FAST_COMMIT_TIMEOUT_S)
        )
        self._db = DbWorker(on_done=intake.wake)
        # Strict mode's journal, set by the writer once its spool slot is open; None: every
        # batch goes to the database first (fast mode, or a strict writer without one).
        self.journal: Spool | None = None
        self._flush_interval_s = flush_interval_s
        self._stash: list[Entry] = []  # journaled, not yet in the database or the spool
        self._stash_rows = 0
        self._stash_since = 0.0
        self.journaled = 0
        self._inflight: _Inflight | None = None
        self._down_until = 0.0
        self._backoff = 0.0
        self._stall_until = 0.0
        self.close_deadline = float("inf")
        self.written = self.spooled = self.replayed = 0
        self.failed_batches = self.slow_batches = 0
        self.database_available = True
        self.spool_problem: str | None = None
        # Set by the writer: now and then moves rows of slots no process holds into our spool.
        self.adopt: Callable[[Spool], object] | None = None
        self._replay_after = 0.0

    def run(self) -> None:
        self._db.start()
        try:
            while True:
                self._reap()
                self._maybe_replay()
                if self.adopt is not None:
                    self.adopt(self._spool)
                now = time.monotonic()
                closing = self._intake.closing
                if closing and now >= self.close_deadline:
                    return
                if now < self._stall_until:
                    self._pause(min(self._stall_until, self.close_deadline) - now)
                    continue
                spill = self._intake.over_bound
                window = 0.0 if spill or closing else self._window_s
                batch = self._intake.take(self._batch_size, window, self._idle_timeout())
                if batch and self.journal is not None and not spill:
                    self._journal(batch)
                elif batch:
                    self._handle(batch, spill)
                if self._stash and (
                    closing
                    or self._stash_rows >= self._batch_size
                    or time.monotonic() - self._stash_since >= self._flush_interval_s
                ):
                    self._flush_stash()
                if not batch and closing and not self._stash:
                    self._finish_replay()
                    return
        finally:
            self._db.stop()

    # --- batches ---------------------------------------------------------------------------

    def _journal(self, batch: list[Entry]) -> None:
        """Strict mode: make the batch durable in the journal, release it, keep it to flush."""
        assert self.journal is not None
        fresh = [row for entry in batch if not entry.journaled for row in entry.build_rows()]
        try:
            if fresh:
                self.journal.append(fresh)
        except (SpoolFullError, OSError) as exc:
            logger.error(
                "call log: journal cannot take rows (%s: %s); this batch goes to the database",
                type(exc).__name__,
                exc,
            )
            self._handle(batch, spill=False)
            return
        self.journaled += len(fresh)
        for entry in batch:
            entry.journaled = True
        settle(batch)
        if not self._stash:
            self._stash_since = time.monotonic()
        self._stash.extend(batch)
        self._stash_rows += sum(len(entry.results) for entry in batch)

    def _flush_stash(self) -> None:
        """The journaled rows to the database (or the spool); then the journal is empty."""
        assert self.journal is not None
        # Never wait on an earlier write here: that would hold up the journaling of every
        # request behind. A replay within its bound: flush once it ends (the rows are durable
        # in the journal meanwhile). A write stuck past its bound (a held lock): spool them.
        if self._running_replay() is not None:
            return
        stuck = self._inflight is not None and not self._inflight.future.done()
        stash, self._stash, self._stash_rows = self._stash, [], 0
        if self._handle(stash, spill=stuck):
            self.journal.clear()
        # Else the spool refused them too: they were put back in the queue and stay journaled.

    def _handle(self, batch: list[Entry], spill: bool) -> bool:
        """Database or spool; False when neither took the batch (it is queued again)."""
        if tracing.tracer is None:
            return self.store(batch, spill)
        return traced_batch(self, batch, spill)

    def store(self, batch: list[Entry], spill: bool) -> bool:
        """`_handle`, untraced."""
        rows = [row for entry in batch for row in entry.build_rows()]
        deadline = time.monotonic() + self._commit_timeout_s
        if not spill and self._db_ready(deadline):
            future = self._db.submit(self._insert.fresh, rows)
            if wait([future], timeout=max(deadline - time.monotonic(), 0)).done:
                exc = future.exception()
                if exc is None:
                    self.written += len(rows)
                    self._database_up()
                    if self.spool_problem is not None:
                        logger.warning("call log: database takes rows again; alarm cleared")
                        self.spool_problem = None
                    settle(batch)
                    return True
                self._database_failed(exc)
            else:
                self._inflight = _Inflight(future, None)
                self.slow_batches += 1
                logger.warning(
                    "call log: database did not commit %d rows within %.0f ms; spooling them",
                    len(rows),
                    self._commit_timeout_s * 1000,
                )
        return self._to_spool(batch, rows)

    def _to_spool(self, batch: list[Entry], rows: list[Row]) -> bool:
        try:
            self._spool.append(rows)
        except (SpoolFullError, OSError) as exc:
            # Nowhere durable to put the rows: keep them queued (strict requests keep waiting,
            # fast mode fills up to its hard cap), raise the alarm, and retry shortly.
            self._intake.put_back(batch)
            self._stall_until = time.monotonic() + _SPOOL_RETRY_S
            problem = f"spool cannot take rows ({type(exc).__name__}: {exc})"
            if self.spool_problem is None:
                logger.error("call log ALARM: %s; %d rows held in memory", problem, len(rows))
            self.spool_problem = problem
            return False
        if self.spool_problem is not None:
            logger.warning("call log: spool accepts rows again")
            self.spool_problem = None
        self.spooled += len(rows)
        settle(batch)
        return True

    # --- database state ---------------------------------------------------------------------

    def _db_ready(self, deadline: float) -> bool:
        if self._inflight is not None:
            wait([self._inflight.future], timeout=max(deadline - time.monotonic(), 0))
            self._reap()
        return self._inflight is None and time.monotonic() >= self._down_until

    def _reap(self) -> None:
        inflight = self._inflight
        if inflight is None or not inflight.future.done():
            return
        self._inflight = None
        exc = inflight.future.exception()
        if exc is not None:
            self._database_failed(exc)
            return
        self._database_up()
        if inflight.chunk is not None:
            # Paced: the next replay waits REPLAY_REST times as long as this one took, so the
            # database and this thread stay free for live rows most of the time.
            self._replay_after = time.monotonic() + _REPLAY_REST * (
                time.monotonic() - inflight.started
            )
            self.replayed += len(inflight.chunk.rows)
            self._spool.mark_replayed(inflight.chunk)
            if self._spool.size == 0 and self.spool_problem is not None:
                logger.warning("call log: spool replayed and emptied; alarm cleared")
                self.spool_problem = None

    def _database_up(self) -> None:
        if not self.database_available:
            logger.warning("call log: database reachable again")
        self.database_available = True
        self._backoff = self._down_until = 0.0

    def _database_failed(self, exc: BaseException) -> None:
        self.failed_batches += 1
        self.database_available = False
        self._backoff = min(max(self._backoff * 2, 0.05), _MAX_BACKOFF_S)
        self._down_until = time.monotonic() + self._backoff
        logger.error(
            "call log: database write failed (%s); rows go to the spool, retry in %.2f s",
            describe_db_error(exc),
            self._backoff,
        )

    # --- replay ----------------------------------------------------------------------------

    def _maybe_replay(self) -> None:
        if (
            self._inflight is None
            and self._spool.pending_rows
            and time.monotonic() >= max(self._down_until, self._replay_after)
            and not self._intake.over_bound
            and (not self._stash or self._intake.closing)
        ):
            chunk = self._spool.read_chunk(self._batch_size)  # one batch: short, to pace them
            future = self._db.submit(self._insert, chunk.rows)
            self._inflight = _Inflight(future, chunk, time.monotonic())

    def _finish_replay(self) -> None:
        """At shutdown: replay what the spool holds while the database allows, then stop."""
        while True:
            self._reap()
            self._maybe_replay()
            remaining = self.close_deadline - time.monotonic()
            if self._inflight is None or remaining <= 0:
                return
            wait([self._inflight.future], timeout=remaining)

    def _running_replay(self) -> float | None:
        """When the replay in flight started, while it is within the commit bound."""
        held = self._inflight
        if held is None or held.chunk is None or held.future.done():
            return None
        return held.started if time.monotonic() - held.started <= self._commit_timeout_s else None

    def _idle_timeout(self) -> float | None:
        timeout = None  # a finished database write or a new entry wakes us
        if self._inflight is None and self._spool.pending_rows:
            wake = max(self._down_until, self._replay_after)
            timeout = max(wake - time.monotonic(), 0.001)
        if self._stash:  # the journaled rows' flush is due then (or when a replay passes its bound)
            due = self._stash_since + self._flush_interval_s
            if (started := self._running_replay()) is not None:
                due = max(due, started + self._commit_timeout_s)
            due = max(due - time.monotonic(), 0.001)
            timeout = due if timeout is None else min(timeout, due)
        return timeout

    def _pause(self, seconds: float) -> None:
        with self._intake.cond:
            self._intake.cond.wait(max(seconds, 0))
