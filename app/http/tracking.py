"""What one provider call saw on the wire: attempts and the last status code.

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
    # Tracing on: the span of the attempt under way (`BaseApiProvider` opens and ends it); the
    # client sends its context upstream and notes the URL it asked, for the span to show.
    span: Span | None = None
    url: object = None


current_call: ContextVar[CallState | None] = ContextVar("current_call", default=None)


async def _count_attempt(request: httpx.Request) -> None:
    state = current_call.get()
    if state is not None:
        state.attempts += 1
        if state.request_id is not None:
            # Upstreams that log it let one fan-out be traced across services.
            request.headers["X-Request-ID"] = state.request_id
        span = state.span
        if span is not None:
            state.url = request.url
            for name, value in trace_headers(span):
                request.headers[name] = value


def with_trace_headers(
    state: CallState, url: object, sent: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The direct path's headers with the attempt's `traceparent`/`tracestate` (a new list:
    `sent` may be the client's cached merge); notes the URL asked, for the attempt's span."""
    assert state.span is not None, "only with tracing on"
    state.url = url
    headers = [item for item in sent if item[0].lower() not in _TRACE_HEADERS]
    headers.extend(trace_headers(state.span))
    return headers


async def _record_status(response: httpx.Response) -> None:
    state = current_call.get()
    if state is not None:
        state.status_code = response.status_code


# Installed on the shared client, so status and attempts are known whatever `_fetch` does.
CALL_TRACKING_HOOKS: dict[str, list[Any]] = {
    "request": [_count_attempt],
    "response": [_record_status],
}
