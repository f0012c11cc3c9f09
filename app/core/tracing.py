"""The process's tracer, or None: what every layer asks before it makes a span.

Tracing is off unless `app.observability.tracing` configured it at start-up (`configure`).
Off, each hot path pays one module attribute read (`tracer is None`), and no OpenTelemetry
object is made. On, spans come from our own `LightTracer` (`app.core.spans`), never the
global provider: a library that reads the global provider (FastAPI's built-in telemetry
records query values) stays off.

The W3C headers are written here from the span's fields, not through a propagator: only
`traceparent` and `tracestate` (never `baggage`, whose entries a client may have set and which
would reach every third-party upstream), and without building a carrier per call.
"""

from app.core.spans import LightSpan
from app.core.tracer import LightTracer

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})  # ours replace any a provider set
SCOPE = "app"  # the instrumentation scope of every span this service makes

# Read by every hot path: a plain module global, set only by `configure` and `reset`.
tracer: LightTracer | None = None


def configure(new: LightTracer) -> None:
    """Make spans with `new` (start-up, or a test's in-memory recording)."""
    global tracer
    tracer = new


def reset() -> None:
    """Tracing off again (the caller stops its pipeline)."""
    global tracer
    tracer = None


def trace_headers(span: LightSpan) -> list[tuple[str, str]]:
    """`traceparent` (and `tracestate` when there is one) naming `span` as the parent."""
    headers = [(TRACEPARENT, span.traceparent())]
    if span.trace_state:
        headers.append((TRACESTATE, span.trace_state.to_header()))
    return headers


def trace_id_of(span: LightSpan) -> str:
    """The span's trace id as 32 hex digits (also for a span that is not sampled)."""
    return span.trace_hex
