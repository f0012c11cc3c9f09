"""The process's tracer, or None: what every layer asks before it makes a span.

Tracing is off unless `app.observability.tracing` configured an exporter at start-up
(`configure`). Off, each hot path pays one module attribute read (`tracer is None`), and no
OpenTelemetry object is made. On, spans come from our own SDK `TracerProvider`, never the
global one: a library that reads the global provider (FastAPI's built-in telemetry records
query values) stays off.

The W3C headers are written here from the span's context, not through a propagator: only
`traceparent` and `tracestate` (never `baggage`, whose entries a client may have set and which
would reach every third-party upstream), and without building a carrier per call.
"""

from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer, TracerProvider, set_span_in_context

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# Read by every hot path: a plain module global, set only by `configure` and `reset`.
tracer: Tracer | None = None
_provider: TracerProvider | None = None


def configure(provider: TracerProvider) -> None:
    """Make spans from `provider` (start-up, or a test's in-memory exporter)."""
    global tracer, _provider
    _provider = provider
    tracer = provider.get_tracer("app")


def reset() -> None:
    """Tracing off again (the caller shuts its provider down)."""
    global tracer, _provider
    tracer = None
    _provider = None


def provider() -> TracerProvider | None:
    return _provider


def trace_headers(span: Span) -> list[tuple[str, str]]:
    """`traceparent` (and `tracestate` when there is one) naming `span` as the parent."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return []
    headers = [
        (TRACEPARENT, f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"),
    ]
    if ctx.trace_state:
        headers.append((TRACESTATE, ctx.trace_state.to_header()))
    return headers


def trace_id_of(span: Span) -> str | None:
    """The span's trace id as 32 hex digits (also for a span that is not sampled)."""
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def child_context(span: Span) -> Context:
    """A context whose current span is `span`: the parent of spans started with it."""
    return set_span_in_context(span)
