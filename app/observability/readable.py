"""Our spans as the SDK's `ReadableSpan`s: for `OTEL_TRACES_EXPORTER=console` and tests.

Only off the hot path: the console exporter (a developer's terminal, not production) and the
tests' in-memory recording read spans the way the SDK's exporters do, so they print and
assert what the OTLP encoder sends.
"""

import sys
from collections.abc import Sequence
from typing import IO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from app.core.spans import LightSpan
from app.core.tracing import SCOPE


def to_readable(span: LightSpan, resource: Resource) -> ReadableSpan:
    parent = None
    if span.parent_id:
        # The parent's own flags are not kept: a local parent's are the span's.
        parent = SpanContext(
            span.trace_id,
            span.parent_id,
            is_remote=span.parent_remote,
            trace_flags=TraceFlags(span.flags),
        )
    return ReadableSpan(
        name=span.name,
        context=span.get_span_context(),
        parent=parent,
        resource=resource,
        attributes=dict(span.attributes),
        events=[Event(name, attributes, at) for name, at, attributes in span.events or ()],
        kind=span.kind,
        status=span.status or Status(StatusCode.UNSET),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=InstrumentationScope(SCOPE),
    )


class ConsoleExport:
    """`OTEL_TRACES_EXPORTER=console`: each span as the SDK's console exporter prints it."""

    def __init__(self, resource: Resource, out: IO[str] | None = None) -> None:
        self._resource = resource
        # The stream of now (the SDK's default is the one of its import).
        self._exporter = ConsoleSpanExporter(out=out or sys.stdout)

    def __call__(self, spans: Sequence[LightSpan], deadline: float, retry: bool) -> str | None:
        self._exporter.export([to_readable(span, self._resource) for span in spans])
        return None
