"""What one provider call saw on the wire: attempts, the last status code and its headers.

`BaseApiProvider.execute` opens a `CallState` for each call; the shared client's event hooks
(`CALL_TRACKING_HOOKS`) fill it in, whatever `_fetch` does, and its direct path
(`HttpClient.fetch_json`) fills it in the same way.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.spans import LightSpan
from app.core.tracing import TRACESTATE, trace_headers


@dataclass(slots=True)
class CallState:
    attempts: int = 0
    status_code: int | None = None
    request_id: str | None = None
    # One key for every attempt of one call, so an upstream can tell a retry from a new call.
    idempotency_key: str | None = None
    # The last answer's headers (case-insensitive `get`), for the response cache's freshness.
    headers: Any = None
    # Tracing on: the client names a span upstream, `parent` when every attempt names the same
    # (the request was not sampled), else `current_attempt`'s (hedged attempts of one call run
    # at once, each in its own task, so each attempt's span is a context variable).
    traced: bool = False
    parent: LightSpan | None = None


@dataclass(slots=True)
class AttemptTrace:
    """Tracing on: one attempt's span (sent upstream) and what the client saw of it."""

    span: LightSpan
    url: object = None
    status_code: int | None = None


current_call: ContextVar[CallState | None] = ContextVar("current_call", default=None)
# Set by `app.integrations.spans.traced_attempt` around each attempt, in the attempt's task.
current_attempt: ContextVar[AttemptTrace | None] = ContextVar("current_attempt", default=None)


async def _count_attempt(request: httpx.Request) -> None:
    state = current_call.get()
    if state is not None:
        state.attempts += 1
        if state.request_id is not None:
            # Upstreams that log it let one fan-out be traced across services.
            request.headers["X-Request-ID"] = state.request_id
        if state.traced:
            parent = state.parent
            if parent is None:
                attempt = current_attempt.get()
                if attempt is not None:
                    attempt.url = request.url
                    parent = attempt.span
            if parent is not None:
                request.headers.pop(TRACESTATE, None)  # a provider's would not go with ours
                for name, value in trace_headers(parent):
                    request.headers[name] = value


async def _record_status(response: httpx.Response) -> None:
    state = current_call.get()
    if state is not None:
        state.status_code = response.status_code
        state.headers = response.headers
        if state.traced:
            attempt = current_attempt.get()
            if attempt is not None:
                attempt.status_code = response.status_code


# Installed on the shared client, so status and attempts are known whatever `_fetch` does.
CALL_TRACKING_HOOKS: dict[str, list[Any]] = {
    "request": [_count_attempt],
    "response": [_record_status],
}
