"""The admission gate in front of the fan-out routes: a slot, or 503 with Retry-After at once.

Pure ASGI, so a shed request costs no routing, validation, key check or body parsing. Only
the fan-out itself is gated: health checks, metrics and the call log's read side never queue
behind it. A GET's `timeout_ms` (the query string) is the deadline the wait must leave room
for; otherwise the default deadline is (a POST body is not read here: parsing it for a
request about to be shed would cost what shedding saves).
"""

import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.connections import RECEIVED_SCOPE_KEY, SHED_SCOPE_KEY
from app.resilience.admission import Admission, Shed

GATED_PATHS = frozenset({"/integrations/fetch"})
_TIMEOUT_MS = re.compile(rb"(?:^|&)timeout_ms=(\d{1,9})(?:&|$)")


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        admission: Admission,
        *,
        default_deadline_s: float,
        retry_after_s: int,
        pace: bool = True,
    ) -> None:
        self.app = app
        self.admission = admission
        self._default_deadline_s = default_deadline_s
        self._retry_after = str(retry_after_s).encode()
        # Read by the server protocol (`connections.py`): how long the connection rests.
        self._pause_s = float(retry_after_s) if pace else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in GATED_PATHS:
            await self.app(scope, receive, send)
            return
        admission = self.admission
        entered = time.monotonic()
        try:
            granted = await admission.acquire(self._deadline_s(scope))
        except Shed as shed:
            if self._pause_s:
                scope[SHED_SCOPE_KEY] = self._pause_s
            await self._refuse(send, shed.reason)
            return
        # The loop's lag before the gate (from the request head's arrival, when the server
        # protocol noted it) counts; the wait for a slot does not (`Admission.acquire`).
        lag = entered - scope.get(RECEIVED_SCOPE_KEY, entered)
        try:
            await self.app(scope, receive, send)
        finally:
            admission.release(time.monotonic() - granted + max(lag, 0.0))

    def _deadline_s(self, scope: Scope) -> float:
        match = _TIMEOUT_MS.search(scope.get("query_string", b""))
        if match is not None:
            return min(int(match.group(1)) / 1000, self._default_deadline_s)
        return self._default_deadline_s

    async def _refuse(self, send: Send, reason: str) -> None:
        body = b'{"detail":"' + reason.encode() + b'"}'
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", self._retry_after),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
