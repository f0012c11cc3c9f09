"""The spans of one provider call and of each of its attempts (tracing on only).

`BaseApiProvider.execute` opens the call's span (`ProviderSpans.start`), also for a call
served from the cache or shared with another caller (coalesced); each attempt, hedges
included, runs in `traced_attempt`, whose span the HTTP client sends upstream as `traceparent`
(`app.http.current_attempt`). Attributes say what happened (kind, status, attempts, breaker,
cache) and where (the redacted URL), never what was sent or answered: messages and data may
hold what a client or upstream wrote.
"""

from collections.abc import Awaitable, Callable

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, get_current_span

from app.core import tracing
from app.core.errors import ErrorKind
from app.http import AttemptTrace, CallState, current_attempt
from app.integrations.schemas import ExternalResponse
from app.resilience.runner import Attempt, Outcome
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


class ProviderSpans:
    """How one provider's calls and attempts are traced."""

    def __init__(self, provider: str, method: str) -> None:
        self.provider = provider
        self.method = method
        self._name = f"provider {provider}"
        self.show_url = SpanUrls()  # how its attempts' spans show the URLs asked

    def start(self) -> "CallTrace | None":
        """One call's tracing; None when tracing is off."""
        tracer = tracing.tracer
        if tracer is None:
            return None
        current = get_current_span()
        if current.get_span_context().is_valid and not current.is_recording():
            # The request was not sampled, so no span below it would be: skip making them,
            # and name the request's span upstream (its trace id, sampled flag off).
            return CallTrace(self, tracer, None, current)
        # A child of the current span (the fan-out's); each attempt is a child of this one.
        span = tracer.start_span(self._name, attributes={"fanout.provider": self.provider})
        return CallTrace(self, tracer, span, span)


class CallTrace:
    """One provider call's span (None when the request was not sampled)."""

    __slots__ = ("_parent", "_sent", "_spans", "_tracer", "span")

    def __init__(self, spans: ProviderSpans, tracer: Tracer, span: Span | None, sent: Span) -> None:
        self._spans = spans
        self._tracer = tracer
        self.span = span
        self._sent = sent  # the span whose trace id the call's row and result carry
        self._parent = tracing.child_context(span) if span is not None else None

    def wrap(self, attempt: Attempt, state: CallState) -> Attempt:
        """`attempt`, each run (hedges too) in a span of its own, the parent sent upstream."""
        state.traced = True
        parent = self._parent
        if parent is None:
            unsampled = AttemptTrace(self._sent)
            return lambda: _named(unsampled, attempt)
        spans, tracer = self._spans, self._tracer
        return lambda: traced_attempt(
            attempt,
            provider=spans.provider,
            method=spans.method,
            tracer=tracer,
            parent=parent,
            show_url=spans.show_url,
        )

    def end(self, result: ExternalResponse) -> None:
        """End the call's span with what `result` says; note its trace on it."""
        result.trace_id = tracing.trace_id_of(self._sent)
        span = self.span
        if span is not None:
            result.trace_sampled = span.get_span_context().trace_flags.sampled
            end_call_span(span, result)

    def cancelled(self) -> None:
        """The call's task was cancelled (the request's deadline passed, or its client left)."""
        if self.span is not None:
            end_cancelled(self.span)


async def _named(unsampled: AttemptTrace, attempt: Attempt) -> Outcome:
    token = current_attempt.set(unsampled)
    try:
        return await attempt()
    finally:
        current_attempt.reset(token)


async def traced_attempt(
    attempt: Callable[[], Awaitable[Outcome]],
    *,
    provider: str,
    method: str,
    tracer: Tracer,
    parent: Context,
    show_url: Callable[[str], str],
) -> Outcome:
    """Run `attempt` inside a span of its own: the parent the client names upstream.

    The span shows the status this attempt got and the URL it asked as `show_url` renders
    it (redacted: no userinfo, no query value, no known secret). What the client saw is kept
    in a context variable, not the call's state: hedged attempts of one call run at once.
    """
    span = tracer.start_span(
        method,
        context=parent,
        kind=SpanKind.CLIENT,
        attributes={"fanout.provider": provider, "http.request.method": method},
    )
    wire = AttemptTrace(span)
    token = current_attempt.set(wire)
    try:
        outcome = await attempt()
    except BaseException:
        # Cancelled: the deadline's timer, the client went away, or another attempt won.
        _end(span, _seen(wire, show_url), "cancelled")
        raise
    finally:
        current_attempt.reset(token)
    _end(span, _seen(wire, show_url), outcome.kind)
    return outcome


def _seen(wire: AttemptTrace, show_url: Callable[[str], str]) -> dict[str, str | int]:
    """What the client saw of this attempt: its status and the URL it asked."""
    seen: dict[str, str | int] = {}
    if wire.status_code is not None:
        seen["http.response.status_code"] = wire.status_code
    if wire.url is not None:
        seen["url.full"] = show_url(str(wire.url))
    return seen


def _end(span: Span, attributes: dict[str, str | int], error: ErrorKind | str | None) -> None:
    # One `set_attributes`: the SDK locks and checks per call.
    if error is not None:
        attributes["error.type"] = error.value if isinstance(error, ErrorKind) else error
        span.set_status(StatusCode.ERROR)
    if attributes:
        span.set_attributes(attributes)
    span.end()


def end_call_span(span: Span, result: ExternalResponse) -> None:
    """What the call came to; never its message or data."""
    kind = result.error_kind
    attributes: dict[str, str | int | bool] = {
        "fanout.outcome": "success" if kind is None else "failure",
        "fanout.attempts": result.attempts,
        "fanout.stale": result.stale,
        "fanout.coalesced": result.coalesced,
    }
    if kind is not None:
        attributes["fanout.error_kind"] = kind.value
        attributes["error.type"] = kind.value
    if result.status_code is not None:
        attributes["http.response.status_code"] = result.status_code
    if result.breaker_state is not None:
        attributes["fanout.breaker_state"] = str(result.breaker_state)
    if result.cache is not None:
        attributes["fanout.cache"] = result.cache
    if result.won_attempt is not None:
        attributes["fanout.won_attempt"] = result.won_attempt
    span.set_attributes(attributes)
    if kind is not None:
        span.set_status(StatusCode.ERROR)
    span.end()


def end_cancelled(span: Span) -> None:
    """The call's task was cancelled (the request's deadline passed, or its client left)."""
    span.set_attributes({"fanout.outcome": "cancelled", "error.type": "cancelled"})
    span.set_status(StatusCode.ERROR)
    span.end()
