"""The bounded in-memory queue between the event loop and the writer's coordinator thread.

The event loop only appends under a short lock and never waits for the database. When the queue
is full, strict mode makes the request wait (on the loop, not blocking it) for room, and fast mode
accepts up to twice the bound while the coordinator spills the excess straight to the spool.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.calllog.row import Row, to_row
from app.calllog.status import CallLogBackpressureError
from app.integrations.schemas import ExternalResponse

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Entry:
    """One fan-out's results; rows are built once, so a retried batch keeps its ids."""

    request_id: str
    results: Sequence[ExternalResponse]
    waiter: "tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None" = None
    rows: list[Row] = field(default_factory=list)
    journaled: bool = False  # strict mode: its rows are in the journal already

    def build_rows(self) -> list[Row]:
        if not self.rows:
            self.rows = [to_row(self.request_id, r) for r in self.results]
        return self.rows


class Intake:
    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.cond = threading.Condition()
        self.entries: deque[Entry] = deque()
        self.rows = 0
        self.dropped = 0
        self.dropping = False  # gauge: the last fast-mode submit could not be queued whole
        self.closing = False
        self.filling_to = 0  # the batch size `take` is waiting to fill up to; 0 when not waiting
        self._room_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def over_bound(self) -> bool:
        return self.rows > self.max_rows

    def put_fast(self, request_id: str, results: Sequence[ExternalResponse]) -> None:
        with self.cond:
            room = 2 * self.max_rows - self.rows
            if room < len(results):
                lost = len(results) - max(room, 0)
                self.dropped += lost
                self.dropping = True
                results = results[: max(room, 0)]
                logger.error(
                    "call log: %d rows dropped (%d so far): the queue (%d rows) and its spill to "
                    "the spool are both full",
                    lost,
                    self.dropped,
                    self.max_rows,
                )
            else:
                self.dropping = False
            if results:
                self._append(Entry(request_id, results))

    async def put_strict(
        self, request_id: str, results: Sequence[ExternalResponse], deadline: float
    ) -> "asyncio.Future[None]":
        """Queue and return a future the coordinator resolves once the rows are durable."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        while True:
            with self.cond:
                if self.rows == 0 or self.rows + len(results) <= self.max_rows:
                    self._append(Entry(request_id, results, (loop, done)))
                    return done
                room: asyncio.Future[None] = loop.create_future()
                self._room_waiters.append((loop, room))
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not (await asyncio.wait({room}, timeout=remaining))[0]:
                raise CallLogBackpressureError(
                    f"call log queue full ({self.max_rows} rows): database and spool too slow"
                )

    def take(self, max_rows: int, window_s: float, idle_timeout_s: float | None) -> list[Entry]:
        """Whole entries up to `max_rows` rows, after up to `window_s` to fill the batch."""
        with self.cond:
            if not self.entries and not self.closing:
                self.cond.wait(idle_timeout_s)
            if self.entries and window_s > 0:
                deadline = time.monotonic() + window_s
                self.filling_to = max_rows
                while (
                    self.rows < max_rows
                    and not self.closing
                    and (remaining := deadline - time.monotonic()) > 0
                ):
                    self.cond.wait(remaining)
                self.filling_to = 0
            batch: list[Entry] = []
            taken = 0
            while self.entries and (not batch or taken + len(self.entries[0].results) <= max_rows):
                entry = self.entries.popleft()
                batch.append(entry)
                taken += len(entry.results)
            self.rows -= taken
            if batch and self._room_waiters:
                waiters, self._room_waiters = self._room_waiters, []
                _resolve(waiters)
            return batch

    def put_back(self, batch: Iterable[Entry]) -> None:
        """Return a batch that could go nowhere to the head of the queue, in order."""
        with self.cond:
            for entry in reversed(list(batch)):
                self.entries.appendleft(entry)
                self.rows += len(entry.results)

    def wake(self, *, closing: bool = False) -> None:
        with self.cond:
            self.closing = self.closing or closing
            self.cond.notify_all()

    def _append(self, entry: Entry) -> None:
        was_empty = not self.entries
        self.entries.append(entry)
        self.rows += len(entry.results)
        # A full batch closes the window at once: under load batches close on size, so rows
        # wait in memory (and in the young garbage-collected generation) for less.
        if was_empty or self.rows >= self.max_rows or 0 < self.filling_to <= self.rows:
            self.cond.notify_all()


def settle(batch: Iterable[Entry]) -> None:
    """Wake the strict-mode requests whose rows this batch made durable (each only once)."""
    waiters = []
    for entry in batch:
        if entry.waiter is not None:
            waiters.append(entry.waiter)
            entry.waiter = None
    _resolve(waiters)


def _resolve(waiters: Sequence[tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for loop, future in waiters:
        by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        # A closed loop raises RuntimeError: nobody is waiting there any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_set_all, futures)


def _set_all(futures: Sequence["asyncio.Future[None]"]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
