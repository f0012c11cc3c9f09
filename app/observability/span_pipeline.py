"""From a finished span to the exporter: a bounded queue, and one thread sending batches.

The SDK's batch processor takes a lock and notifies a condition for every span; ours appends
to a deque (atomic under the GIL) and wakes the export thread only when the queue reaches a
batch, as the `OTEL_BSP_*` variables say (the specification's defaults):

* `OTEL_BSP_MAX_QUEUE_SIZE` (2048): spans beyond it are dropped, and counted;
* `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512): spans per export, and when the thread is woken;
* `OTEL_BSP_SCHEDULE_DELAY` (5000 ms): the thread wakes this often anyway;
* `OTEL_BSP_EXPORT_TIMEOUT` (30000 ms): one batch's time, its retries included.

Nothing here waits for the receiver on a request's path: a receiver that is down costs the
thread bounded tries per batch, then the batch is dropped and counted. While it keeps
failing each batch gets one try. A WARNING says when exports start failing and when they
recover, never once per batch; another when the queue starts overflowing.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.spans import LightSpan
from app.core.tracer import LightTracer
from app.observability.otlp_http import TracingConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler

logger = logging.getLogger(__name__)

# Sends one batch before the deadline (`time.monotonic()`), retrying or not; None when it
# was taken, else why not.
Export = Callable[[list[LightSpan], float, bool], str | None]


@dataclass(frozen=True)
class BatchSettings:
    max_queue: int = 2048
    batch_size: int = 512
    delay_s: float = 5.0
    export_timeout_s: float = 30.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "BatchSettings":
        def read(name: str, default: int) -> int:
            raw = environ.get(name, "").strip()
            try:
                value = int(raw) if raw else default
            except ValueError:
                value = 0
            if value <= 0:
                raise TracingConfigError(f"{name} must be a positive whole number")
            return value

        settings = cls(
            max_queue=read("OTEL_BSP_MAX_QUEUE_SIZE", 2048),
            batch_size=read("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
            delay_s=read("OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000,
            export_timeout_s=read("OTEL_BSP_EXPORT_TIMEOUT", 30000) / 1000,
        )
        if settings.batch_size > settings.max_queue:
            raise TracingConfigError(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not exceed OTEL_BSP_MAX_QUEUE_SIZE"
            )
        return settings


class SpanPipeline:
    """The tracer of the process and where its finished spans go; `shutdown` at the end."""

    def __init__(
        self, sampler: "Sampler", export: Export, where: str, settings: BatchSettings
    ) -> None:
        self.tracer = LightTracer(sampler, self.put)
        self._export = export
        self._where = where  # for the log: the endpoint, or "the console"
        self._settings = settings
        self._spans: deque[LightSpan] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # the drop count and the flush requests, not the queue
        self._flushes: list[threading.Event] = []
        self._stop_at: float | None = None
        # Counted by the export thread, except `dropped_full` (any thread, under the lock).
        self.exported = 0
        self.dropped_full = 0  # the queue was full
        self.dropped_failed = 0  # the receiver did not take them
        self._failing = False
        self._failed_before = 0
        self._full_seen = 0
        self._overflowing = False
        self._thread = threading.Thread(target=self._run, name="span-export", daemon=True)
        self._thread.start()

    def put(self, span: LightSpan) -> None:
        """A finished span (the tracer's `on_end`): queued, or dropped when the queue is full."""
        spans = self._spans
        if len(spans) >= self._settings.max_queue:
            with self._lock:
                self.dropped_full += 1
            return
        spans.append(span)
        if len(spans) == self._settings.batch_size:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export what is queued now; False if that took longer than `timeout_millis`."""
        done = threading.Event()
        with self._lock:
            if self._stop_at is not None:
                return False
            self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Export what is queued (within `timeout_s`, by default one batch's export
        timeout) and stop the thread. Spans that end afterwards are not exported."""
        timeout = self._settings.export_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            if self._stop_at is not None:
                return
            self._stop_at = time.monotonic() + timeout
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._settings.delay_s)
            self._wake.clear()
            with self._lock:
                flushes, self._flushes = self._flushes, []
                stop_at = self._stop_at
            self._drain(stop_at)
            for done in flushes:
                done.set()
            self._note_overflow()
            if stop_at is not None:
                self._spans = deque(maxlen=0)  # spans that end from now on are let go at once
                return

    def _drain(self, stop_at: float | None) -> None:
        """Export every span queued, batch by batch."""
        spans, size = self._spans, self._settings.batch_size
        while spans:
            batch = [spans.popleft() for _ in range(min(len(spans), size))]
            deadline = time.monotonic() + self._settings.export_timeout_s
            if stop_at is not None:
                deadline = min(deadline, stop_at)
            try:
                problem = self._export(batch, deadline, not self._failing)
            except Exception as exc:  # a bug of ours must not stop the thread
                logger.exception("span export raised")
                problem = type(exc).__name__
            self._outcome(len(batch), problem)
            if problem is not None and stop_at is not None:
                # Stopping and the receiver does not answer: don't wait for it once per batch.
                self.dropped_failed += len(spans)
                spans.clear()

    def _outcome(self, count: int, problem: str | None) -> None:
        if problem is None:
            self.exported += count
            if self._failing:
                self._failing = False
                logger.warning(
                    "span export to %s recovered; %d spans were dropped while it failed",
                    self._where,
                    self.dropped_failed - self._failed_before,
                )
            return
        if not self._failing:
            self._failing = True
            self._failed_before = self.dropped_failed
            logger.warning(
                "span export to %s failing (%s): spans are dropped until it answers",
                self._where,
                problem,
            )
        self.dropped_failed += count

    def _note_overflow(self) -> None:
        """One WARNING when the queue starts overflowing (spans end faster than they leave)."""
        full = self.dropped_full
        overflowing = full > self._full_seen
        if overflowing and not self._overflowing:
            logger.warning(
                "span queue full (OTEL_BSP_MAX_QUEUE_SIZE=%d): spans are dropped",
                self._settings.max_queue,
            )
        self._overflowing = overflowing
        self._full_seen = full
