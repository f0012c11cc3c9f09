"""uvicorn's httptools protocol with two guards: a header timeout, and paced shed connections.

- **Header timeout.** uvicorn closes idle keep-alive connections but has no bound on how long a
  request head may take: a client that sends one byte every few seconds holds its connection
  (and, with `--limit-concurrency`, a slot) for ever. Here a connection whose request head is
  not complete within `header_timeout_s` of its first byte (or of connecting) gets 408 and is
  closed, as nginx's `client_header_timeout` does.
- **Arrival time.** Each request's scope carries when its head was complete
  (`RECEIVED_SCOPE_KEY`, `time.monotonic()`), so the admission gate's latency samples include
  the time the request waited for the event loop, the first thing that grows under overload.
- **Pacing.** A connection whose request was shed (the admission gate marks the scope) is not
  read again for about its Retry-After (jittered, so a burst does not come back as one). A
  client that ignores Retry-After and resends at once would otherwise make the worker spend
  its CPU refusing; its next request waits in the kernel's socket buffer, costing nothing.
  The 503 itself still goes out at once, and new connections (health probes) are read as
  soon as they arrive. Each request's scope carries how many of the connection's requests were
  shed, none more than `shed_memory_s` (10 s) after the one before (`SHED_STREAK_SCOPE_KEY`),
  so the gate can back off while an overload lasts.

`python -m app serve` uses it; with plain uvicorn pass
`--http app.api.connections:GuardedHttpToolsProtocol`.
"""

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings

# Set by the admission gate on a request it refused: seconds the connection is not read
# (0: not paced).
SHED_SCOPE_KEY = "app.shed_pause_s"
# Set on every request: `time.monotonic()` when its head was complete.
RECEIVED_SCOPE_KEY = "app.received_at"
# Set on every request: the connection's sheds, each within `shed_memory_s` of the one before.
SHED_STREAK_SCOPE_KEY = "app.shed_streak"
_TIMEOUT_BODY = b"request head not complete in time\n"
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


def jittered(pause_s: float, draw: Callable[[], float] = random.random) -> float:
    """`pause_s` times 0.5 to 1.5: connections shed in one burst come back spread out, not as
    the same burst a second later, every second."""
    return pause_s * (0.5 + draw())


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s: float | None = None  # None: HEADER_TIMEOUT_S of the settings
    # The streak survives admitted requests in between: under `wrk -c1000` most connections
    # were admitted once between two sheds, so a streak reset by each admission stayed at 0
    # and the worker still refused ~720 requests a second.
    shed_memory_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if GuardedHttpToolsProtocol.header_timeout_s is None:
            GuardedHttpToolsProtocol.header_timeout_s = get_settings().header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._resume_timer: asyncio.TimerHandle | None = None
        self._shed_streak = 0
        self._last_shed_at = float("-inf")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.scope[RECEIVED_SCOPE_KEY] = time.monotonic()  # type: ignore[literal-required]
        if self._shed_streak and self.loop.time() - self._last_shed_at > self.shed_memory_s:
            self._shed_streak = 0
        self.scope[SHED_STREAK_SCOPE_KEY] = self._shed_streak  # type: ignore[literal-required]
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request is parsed already: no pacing
        super().on_response_complete()
        pause = self.cycle.scope.get(SHED_SCOPE_KEY) if self.cycle is not None else None
        if not isinstance(pause, float):
            return
        self._shed_streak += 1
        self._last_shed_at = self.loop.time()
        if pause > 0 and not pipelined and not self.transport.is_closing():
            # Not read until Retry-After; the keep-alive timer starts once reading resumes.
            self._unset_keepalive_if_required()
            self.flow.pause_reading()
            self._resume_timer = self.loop.call_later(jittered(pause), self._resume)

    def _resume(self) -> None:
        self._resume_timer = None
        if not self.transport.is_closing():
            self.flow.resume_reading()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self.header_timeout_s:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._resume_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._resume_timer = None
