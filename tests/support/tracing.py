"""Tracing on for one test: spans kept in memory, finished ones readable at once.

The tracer is the service's own (`LightTracer`) with the default sampler (parent-based,
always on), whatever `OTEL_TRACES_SAMPLER` says; finished spans are read as the SDK's
`ReadableSpan`s, converted as the console exporter converts them.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.sampling import DEFAULT_ON

from app.core import tracing
from app.core.spans import LightSpan
from app.core.tracer import LightTracer
from app.observability.readable import to_readable

RESOURCE = Resource({SERVICE_NAME: "api-fanout-tests"})


class Recorded:
    """The spans that ended (sampled ones: what an exporter would get), in order."""

    def __init__(self) -> None:
        self.spans: list[LightSpan] = []

    def get_finished_spans(self) -> list[ReadableSpan]:
        return [to_readable(span, RESOURCE) for span in list(self.spans)]


@contextmanager
def recording_spans() -> Iterator[Recorded]:
    recorded = Recorded()
    tracing.configure(LightTracer(DEFAULT_ON, recorded.spans.append))
    try:
        yield recorded
    finally:
        tracing.reset()


def span_text(spans: "tuple[ReadableSpan, ...] | list[ReadableSpan]") -> str:
    """Everything a span exports as text: names, attributes, events, status, resource."""
    parts = []
    for span in spans:
        parts.append(span.name)
        parts.append(repr(dict(span.attributes or {})))
        parts.append(repr(span.status.description))
        parts.extend(f"{e.name} {dict(e.attributes or {})!r}" for e in span.events)
        parts.extend(repr(dict(link.attributes or {})) for link in span.links)
        parts.append(repr(dict(span.resource.attributes)))
    return "\n".join(parts)
