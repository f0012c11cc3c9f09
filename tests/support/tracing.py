"""Tracing on for one test: spans kept in memory, finished ones readable at once."""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core import tracing


@contextmanager
def recording_spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    try:
        yield exporter
    finally:
        tracing.reset()
        provider.shutdown()


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
