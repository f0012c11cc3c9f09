"""What one provider call saw on the wire: attempts, the last status code and its headers.

`BaseApiProvider.execute` opens a `CallState` for each call; the shared client's event hooks
(`CALL_TRACKING_HOOKS`) fill it in, whatever `_fetch` does, and its direct path
(`HttpClient.fetch_json`) fills it in the same way.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(slots=True)
class CallState:
    attempts: int = 0
    status_code: int | None = None
    request_id: str | None = None
    # One key for every attempt of one call, so an upstream can tell a retry from a new call.
    idempotency_key: str | None = None
    # The last answer's headers (case-insensitive `get`), for the response cache's freshness.
    headers: Any = None


current_call: ContextVar[CallState | None] = ContextVar("current_call", default=None)


async def _count_attempt(request: httpx.Request) -> None:
    state = current_call.get()
    if state is not None:
        state.attempts += 1
        if state.request_id is not None:
            # Upstreams that log it let one fan-out be traced across services.
            request.headers["X-Request-ID"] = state.request_id


async def _record_status(response: httpx.Response) -> None:
    state = current_call.get()
    if state is not None:
        state.status_code = response.status_code
        state.headers = response.headers


# Installed on the shared client, so status and attempts are known whatever `_fetch` does.
CALL_TRACKING_HOOKS: dict[str, list[Any]] = {
    "request": [_count_attempt],
    "response": [_record_status],
}
