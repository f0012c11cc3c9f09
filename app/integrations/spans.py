"""The spans of one provider call and of each of its attempts (tracing on only).

`BaseApiProvider.execute` opens the call's span (`ProviderSpans.start`), also for a call
served from the cache or shared with another caller (coalesced); each attempt, hedges
included, runs in `traced_attempt`, whose span the HTTP client sends upstream as `traceparent`
(`app.http.current_attempt`). Attributes say what happened (kind, status, attempts, breaker,
cache) and where (the redacted URL), never what was sent or answered: messages and data may
hold what a client or upstream wrote.

A provider's calls mostly end alike (same outcome, attempts, status, URL): the attributes of
each way a call or an attempt ended are made once and shared by the spans that ended so
(`SharedAttributes`), which the encoder then encodes once. Spans cost per call and attempt.
"""

from collections.abc import Awaitable, Callable

from opentelemetry.trace import SpanKind, StatusCode, get_current_span

from app.core import tracing
from app.core.errors import ErrorKind
from app.core.spans import LightSpan, SharedAttributes
from app.core.tracer import LightTracer
from app.http import AttemptTrace, CallState, current_attempt
from app.integrations.schemas import ExternalResponse
from app.resilience.runner import Attempt, Outcome
from app.security.redaction import redact_url

_ENDINGS = 256  # ways a provider's calls (and its attempts) ended that are kept


class ProviderSpans:
    """How one provider's calls and attempts are traced."""

    def __init__(self, provider: str, method: str) -> None:
        self.provider = provider
        self.method = method
        self._name = f"provider {provider}"
        self._calls: dict[tuple[object, ...], SharedAttributes] = {}
        self._attempts: dict[tuple[object, ...], SharedAttributes] = {}

    def start(self) -> "CallTrace | None":
        """One call's tracing; None when tracing is off."""
        tracer = tracing.tracer
        if tracer is None:
            return None
        current = get_current_span()
        if type(current) is LightSpan:  # the fan-out's span (or a test's)
            if not current.sampled:
                # The request was not sampled, so no span below it would be: skip making
                # them, and name the request's span upstream (its trace id, sampled flag off).
                return CallTrace(self, tracer, None, current)
            span = tracer.child(current, self._name)
        else:  # no fan-out around the call: a trace of its own
            span = tracer.start_span(self._name)
            if not span.sampled:
                return CallTrace(self, tracer, None, span)
        return CallTrace(self, tracer, span, span)

    def call_ended(self, result: ExternalResponse) -> SharedAttributes:
        """The attributes of a call that ended as `result` did; never its message or data."""
        key = (
            result.error_kind,
            result.attempts,
            result.stale,
            result.coalesced,
            result.status_code,
            result.breaker_state,
            result.cache,
            result.won_attempt,
        )
        found = self._calls.get(key)
        if found is None:
            found = _kept(self._calls, key, call_attributes(self.provider, result))
        return found

    def attempt_ended(self, wire: AttemptTrace, error: ErrorKind | str | None) -> SharedAttributes:
        """The attributes of an attempt that saw what `wire` did (its status, the URL it
        asked, redacted: no userinfo, no query value, no known secret) and ended so."""
        # The URL object the client asked: the direct path reuses its own per URL and query.
        key = (wire.status_code, wire.url, error)
        found = self._attempts.get(key)
        if found is None:
            attributes: dict[str, str | int] = {
                "fanout.provider": self.provider,
                "http.request.method": self.method,
            }
            if wire.status_code is not None:
                attributes["http.response.status_code"] = wire.status_code
            if wire.url is not None:
                attributes["url.full"] = redact_url(str(wire.url))
            if error is not None:
                attributes["error.type"] = error.value if isinstance(error, ErrorKind) else error
            found = _kept(self._attempts, key, attributes)
        return found


def _kept(
    endings: dict[tuple[object, ...], SharedAttributes],
    key: tuple[object, ...],
    attributes: dict[str, str | int] | dict[str, str | int | bool],
) -> SharedAttributes:
    if len(endings) >= _ENDINGS:
        endings.clear()
    shared = endings[key] = SharedAttributes(attributes)
    return shared


class CallTrace:
    """One provider call's span (None when the request was not sampled)."""

    __slots__ = ("_sent", "_spans", "_tracer", "span")

    def __init__(
        self, spans: ProviderSpans, tracer: LightTracer, span: LightSpan | None, sent: LightSpan
    ) -> None:
        self._spans = spans
        self._tracer = tracer
        self.span = span  # each attempt's span is a child of this one
        self._sent = sent  # the span whose trace id the call's row and result carry

    def wrap(self, attempt: Attempt, state: CallState) -> Attempt:
        """`attempt`, each run (hedges too) in a span of its own, the parent sent upstream."""
        state.traced = True
        parent = self.span
        if parent is None:
            state.parent = self._sent  # not sampled: every attempt names the request's span
            return attempt
        spans, tracer = self._spans, self._tracer
        return lambda: traced_attempt(attempt, spans, tracer, parent)

    @property
    def trace_id(self) -> str:
        """The trace the call's row and result carry (also when not sampled)."""
        return self._sent.trace_hex

    def end(self, result: ExternalResponse) -> None:
        """End the call's span with what `result` says."""
        span = self.span
        if span is not None:
            if result.error_kind is not None:
                span.set_status(StatusCode.ERROR)
            span.end_shared(self._spans.call_ended(result))

    def cancelled(self) -> None:
        """The call's task was cancelled (the request's deadline passed, or its client left)."""
        if self.span is not None:
            end_cancelled(self.span, self._spans.provider)


async def traced_attempt(
    attempt: Callable[[], Awaitable[Outcome]],
    spans: ProviderSpans,
    tracer: LightTracer,
    parent: LightSpan,
) -> Outcome:
    """Run `attempt` inside a span of its own: the parent the client names upstream.

    What the client saw is kept in a context variable, not the call's state: hedged attempts
    of one call run at once.
    """
    span = tracer.child(parent, spans.method, SpanKind.CLIENT)
    wire = AttemptTrace(span)
    token = current_attempt.set(wire)
    try:
        outcome = await attempt()
    except BaseException:
        # Cancelled: the deadline's timer, the client went away, or another attempt won.
        span.set_status(StatusCode.ERROR)
        span.end_shared(spans.attempt_ended(wire, "cancelled"))
        raise
    finally:
        current_attempt.reset(token)
    if outcome.kind is not None:
        span.set_status(StatusCode.ERROR)
    span.end_shared(spans.attempt_ended(wire, outcome.kind))
    return outcome


def call_attributes(provider: str, result: ExternalResponse) -> dict[str, str | int | bool]:
    """What the call came to; never its message or data."""
    kind = result.error_kind
    attributes: dict[str, str | int | bool] = {
        "fanout.provider": provider,
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
    return attributes


def end_cancelled(span: LightSpan, provider: str) -> None:
    """The call's task was cancelled (the request's deadline passed, or its client left)."""
    span.set_attributes(
        {"fanout.provider": provider, "fanout.outcome": "cancelled", "error.type": "cancelled"}
    )
    span.set_status(StatusCode.ERROR)
    span.end()
