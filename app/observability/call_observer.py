"""Per-call metrics and JSON log lines, produced on a thread of their own.

The manager hands each fan-out's results to one sink. `CallObserver` wraps the call-log
writer: it drops them into a `SimpleQueue` (a C-level put, well under a microsecond), then
passes them on. Its thread turns them into counter updates and one log line per call,
so neither costs the event loop anything measurable (see bench/README.md).
"""

import logging
import queue
import threading
from collections.abc import Sequence

from app.integrations.manager import CallLogSink
from app.integrations.schemas import ExternalResponse
from app.observability.metrics import Metrics

call_logger = logging.getLogger("app.calls")


_Item = tuple[str, Sequence[ExternalResponse]] | None


class CallObserver:
    def __init__(self, inner: CallLogSink | None, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="call-observer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def record(self, request_id: str, results: Sequence[ExternalResponse]) -> None:
        # Observed first: the calls happened even if the writer then refuses them.
        self._queue.put((request_id, results))
        if self._inner is not None:
            await self._inner.record(request_id, results)

    def close(self, timeout_s: float = 5.0) -> None:
        """Handle what is queued, then stop (blocking: call it off the loop)."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            request_id, results = item
            try:
                self._metrics.record(results)
                _log_lines(request_id, results)
            except Exception:
                call_logger.exception("observing %d calls failed", len(results))


def _log_lines(request_id: str, results: Sequence[ExternalResponse]) -> None:
    for result in results:
        # Failures at WARNING: LOG_LEVEL=WARNING keeps them and silences the successes.
        level = logging.INFO if result.success else logging.WARNING
        if not call_logger.isEnabledFor(level):
            continue
        call_logger.log(
            level,
            "provider call",
            extra={
                "request_id": request_id,
                "provider": result.provider,
                "success": result.success,
                "error_kind": result.error_kind.value if result.error_kind else None,
                "status_code": result.status_code,
                "response_time_ms": result.response_time_ms,
                "attempts": result.attempts,
                # Already redacted by the template method; data is never logged.
                "error_message": result.error_message,
            },
        )
