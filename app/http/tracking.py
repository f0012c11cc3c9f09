"""What one provider call saw on the wire: attempts, the last status code and its headers.

`BaseApiProvider.execute` opens a `CallState` for each call; the shared client's event hooks
(`CALL_TRACKING_HOOKS`) fill it in, whatever `_fetch` does, and its direct path
(`HttpClient.fetch_json`) fills it in the same way.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.trace import Span

from app.core.tracing import TRACEPARENT, TRACESTATE, trace_headers

# Ours replace any a provider set, on both paths.
_TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})


@dataclass(slots=True)
class CallState:
    attempts: int = 0
    status_code: int | None = None
    request_id: str | None = None
    # One key for every attempt of one call, so an upstream can tell a retry from a new call.
    idempotency_key: str | None = None
    # The last answer's headers (case-insensitive `get`), for the response cache's freshness.
    headers: Any = None
    # Tracing on: the client sends `current_attempt`'s span upstream (hedged attempts of one
    # call run at once, each in its own task, so each attempt's span is a context variable).
    traced: bool = False


@dataclass(slots=True)
class AttemptTrace:
    """Tracing on: one attempt's span (sent upstream) and what the client saw of it."""

    span: Span
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
            attempt = current_attempt.get()
            if attempt is not None:
                attempt.url = request.url
                for name, value in trace_headers(attempt.span):
                    request.headers[name] = value


def with_trace_headers(
    attempt: AttemptTrace, url: object, sent: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The direct path's headers with the attempt's `traceparent`/`tracestate` (a new list:
    `sent` may be the client's cached merge); notes the URL asked, for the attempt's span."""
    attempt.url = url
    headers = [item for item in sent if item[0].lower() not in _TRACE_HEADERS]
    headers.extend(trace_headers(attempt.span))
    return headers


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
