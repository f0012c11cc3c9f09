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

from app.api.connections import RECEIVED_SCOPE_KEY, SHED_SCOPE_KEY, SHED_STREAK_SCOPE_KEY
from app.resilience.admission import Admission, Shed

GATED_PATHS = frozenset({"/integrations/fetch"})
# A connection shed again within 10 s of its last shed (`connections.py`) is told to wait
# twice as long, up to 4x Retry-After: a client that resends at once (a naive retry loop)
# then costs the worker up to 4x fewer refusals, whose CPU would come out of the admitted
# fan-outs, and one that honours Retry-After is told when to come back. Back to 1x after 10 s
# without a shed. Not more: a paced connection rests up to 1.5x its Retry-After, and at 8x
# (12 s) clients with a 10 s timeout gave up on requests they had sent at once.
MAX_DOUBLINGS = 2
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
        # Per shed streak: Retry-After, and (read by the server protocol, `connections.py`)
        # how long the connection rests, 0 when not paced.
        waits = [retry_after_s << doublings for doublings in range(MAX_DOUBLINGS + 1)]
        self._retry_after = [str(wait).encode() for wait in waits]
        self._pause_s = [float(wait) if pace else 0.0 for wait in waits]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in GATED_PATHS:
            await self.app(scope, receive, send)
            return
        admission = self.admission
        entered = time.monotonic()
        try:
            granted = await admission.acquire(self._deadline_s(scope))
        except Shed as shed:
            step = min(scope.get(SHED_STREAK_SCOPE_KEY, 0), MAX_DOUBLINGS)
            scope[SHED_SCOPE_KEY] = self._pause_s[step]
            await self._refuse(send, shed.reason, self._retry_after[step])
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

    async def _refuse(self, send: Send, reason: str, retry_after: bytes) -> None:
        body = b'{"detail":"' + reason.encode() + b'"}'
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", retry_after),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
