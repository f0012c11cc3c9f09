"""The spans of one provider call and of each of its attempts (tracing on only).

`BaseApiProvider.execute` opens the call's span; each attempt runs in `traced_attempt`, whose
span the HTTP client sends upstream as `traceparent` (`app.http.tracking.CallState.span`).
Attributes say what happened (kind, status, attempts, breaker) and where (the redacted URL),
never what was sent or answered: messages and data may hold what a client or upstream wrote.
"""

from collections.abc import Awaitable, Callable

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from app.core.errors import ErrorKind
from app.http import CallState
from app.resilience.runner import Outcome
from app.security.redaction import redact_url

_SPAN_URLS = 256  # distinct URLs per provider whose redacted form is kept


class SpanUrls:
    """A URL as an attempt's span shows it: redacted, and cached (providers repeat theirs)."""

    def __init__(self) -> None:
        self._shown: dict[str, str] = {}

    def __call__(self, url: str) -> str:
        shown = self._shown.get(url)
        if shown is None:
            if len(self._shown) >= _SPAN_URLS:
                self._shown.clear()
            shown = self._shown[url] = redact_url(url)
        return shown


async def traced_attempt(
    attempt: Callable[[], Awaitable[Outcome]],
    *,
    provider: str,
    method: str,
    state: CallState,
    tracer: Tracer,
    parent: Context,
    show_url: Callable[[str], str],
) -> Outcome:
    """Run `attempt` inside a span of its own: the parent the client names upstream.

    The span shows the status this attempt got and the URL it asked as `show_url` renders
    it (redacted: no userinfo, no query value, no known secret).
    """
    span = tracer.start_span(
        method,
        context=parent,
        kind=SpanKind.CLIENT,
        attributes={"fanout.provider": provider, "http.request.method": method},
    )
    # The call's last status stays what it was if this attempt got none (a connection error).
    previous_status, state.status_code = state.status_code, None
    state.span, state.url = span, None
    try:
        outcome = await attempt()
    except BaseException:
        # Cancelled: the deadline's timer, or the client went away.
        _end(span, _wire(state, previous_status, show_url), "cancelled")
        raise
    _end(span, _wire(state, previous_status, show_url), outcome.kind)
    return outcome


def _wire(
    state: CallState, previous_status: int | None, show_url: Callable[[str], str]
) -> dict[str, str | int]:
    """What the client saw of this attempt: its status and the URL it asked."""
    state.span = None
    seen: dict[str, str | int] = {}
    status = state.status_code
    if status is None:
        state.status_code = previous_status
    else:
        seen["http.response.status_code"] = status
    if state.url is not None:
        seen["url.full"] = show_url(str(state.url))
    return seen


def _end(span: Span, attributes: dict[str, str | int], error: ErrorKind | str | None) -> None:
    # One `set_attributes`: the SDK locks and checks per call.
    if error is not None:
        attributes["error.type"] = error.value if isinstance(error, ErrorKind) else error
        span.set_status(StatusCode.ERROR)
    if attributes:
        span.set_attributes(attributes)
    span.end()


def end_call_span(
    span: Span,
    kind: ErrorKind | None,
    status_code: int | None,
    attempts: int,
    stale: bool,
    breaker_state: str | None,
) -> None:
    """What the call came to; never its message or data."""
    attributes: dict[str, str | int | bool] = {
        "fanout.outcome": "success" if kind is None else "failure",
        "fanout.attempts": attempts,
        "fanout.stale": stale,
    }
    if kind is not None:
        attributes["fanout.error_kind"] = kind.value
        attributes["error.type"] = kind.value
    if status_code is not None:
        attributes["http.response.status_code"] = status_code
    if breaker_state is not None:
        attributes["fanout.breaker_state"] = str(breaker_state)
    span.set_attributes(attributes)
    if kind is not None:
        span.set_status(StatusCode.ERROR)
    span.end()


def end_cancelled(span: Span) -> None:
    """The call's task was cancelled (the request's deadline passed, or its client left)."""
    span.set_attributes({"fanout.outcome": "cancelled", "error.type": "cancelled"})
    span.set_status(StatusCode.ERROR)
    span.end()
