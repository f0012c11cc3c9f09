"""The tracer of our light spans (`app.core.spans`): the OpenTelemetry API's `Tracer`.

Sampling uses the SDK's samplers, asked only where a decision is made: a root, or a span
whose parent came from elsewhere (a `traceparent`). A child of one of our spans takes its
parent's decision, which is what every sampler `OTEL_TRACES_SAMPLER` can name would answer:
always_on/off are constant, traceidratio decides on the trace id (the parent's), and the
parent-based ones follow a local parent's sampled flag (`inherits_locally`). The SDK is
imported once a tracer is made: with tracing off it is never loaded.
"""

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as context_api
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.util.types import Attributes

from app.core.spans import NO_ATTRIBUTES, RANDOM_TRACE_ID, SAMPLED, LightSpan

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler

_bits = random.getrandbits
_now = time.time_ns
_new = object.__new__


class LightTracer(Tracer):
    """Makes `LightSpan`s; `on_end` takes each finished, sampled one (from any thread)."""

    def __init__(self, sampler: "Sampler", on_end: Callable[[LightSpan], None]) -> None:
        from opentelemetry.sdk.trace import sampling

        self.sampler = sampler
        self._on_end = on_end
        self._inherits = inherits_locally(sampler)
        self._drop, self._sample = sampling.Decision.DROP, sampling.Decision.RECORD_AND_SAMPLE
        # always_on and always_off answer the same whatever they are asked: asked once.
        self._static: Decision | None = None
        if type(sampler) is sampling.StaticSampler:
            self._static = sampler.should_sample(None, 1, "").decision

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> LightSpan:
        parent = get_current_span(context)
        if type(parent) is LightSpan:
            span = self.child(parent, name, kind, attributes, start_time)
        else:
            span = self._decide(parent, context, name, kind, attributes, links, start_time)
        if links:
            span.dropped_links = len(links)  # nothing here links spans: not kept
        return span

    def child(
        self,
        parent: LightSpan,
        name: str,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        start_time: int | None = None,
    ) -> LightSpan:
        """A child of one of our spans: the hot paths' narrow way in (no context to read)."""
        if not self._inherits:
            at = set_span_in_context(parent)
            return self._decide(parent, at, name, kind, attributes, None, start_time)
        span = _new(LightSpan)
        span._on_end = self._on_end
        span._open = bool(parent.flags & SAMPLED)
        span.name = name
        span.kind = kind
        span.trace_id = parent.trace_id
        span.trace_hex = parent.trace_hex
        span.span_id = _bits(64) or 1  # 0 is the invalid id
        span.parent_id = parent.span_id
        span.flags = parent.flags
        span.trace_state = parent.trace_state
        span.attributes = dict(attributes) if attributes else NO_ATTRIBUTES
        span.start_time = start_time if start_time is not None else _now()
        return span

    def _decide(
        self,
        parent: Span,
        context: Context | None,
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        links: Sequence[Link] | None,
        start_time: int | None,
    ) -> LightSpan:
        """A root, or the child of a span from elsewhere: the sampler decides."""
        found = parent.get_span_context()
        if found.is_valid:
            trace_id, parent_id = found.trace_id, found.span_id
            random_id = found.trace_flags & RANDOM_TRACE_ID
        else:
            trace_id, parent_id, random_id = _bits(128) or 1, 0, RANDOM_TRACE_ID
        if self._static is not None:
            decision, trace_state = self._static, found.trace_state if found.is_valid else None
        else:
            result = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
            decision, trace_state, attributes = (
                result.decision,
                result.trace_state,
                result.attributes,
            )
        span = _new(LightSpan)
        span._on_end = self._on_end
        span._open = decision is not self._drop
        span.name = name
        span.kind = kind
        span.trace_id = trace_id
        span.trace_hex = f"{trace_id:032x}"
        span.span_id = _bits(64) or 1
        span.parent_id = parent_id
        span.flags = (SAMPLED if decision is self._sample else 0) | random_id
        span.trace_state = trace_state
        # What the sampler handed back: the standard ones, the span's own.
        span.attributes = dict(attributes) if attributes else NO_ATTRIBUTES
        span.start_time = start_time if start_time is not None else _now()
        if found.is_valid and found.is_remote:
            span.parent_remote = True
        return span

    # The API types it as its own context manager class; contextlib's is used the same way.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[LightSpan]:
        """`start_span`, the span current inside the block; what `trace.use_span` does."""
        span = self.start_span(name, context, kind, attributes, links, start_time)
        token = context_api.attach(set_span_in_context(span))
        try:
            yield span
        except Exception as exc:  # as the API: not BaseException (GeneratorExit, cancelling)
            if record_exception:
                span.record_exception(exc)
            if set_status_on_exception:
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            context_api.detach(token)
            if end_on_exit:
                span.end()


def inherits_locally(sampler: "Sampler") -> bool:
    """Whether `sampler` decides a child of a local span as it decided the parent.

    True of every sampler `OTEL_TRACES_SAMPLER` names; a sampler built in code otherwise
    (a subclass, a parent-based one with other local delegates) is asked for every span.
    """
    from opentelemetry.sdk.trace import sampling

    kind = type(sampler)
    if kind in (sampling.StaticSampler, sampling.TraceIdRatioBased):
        return True
    local = "localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
    parent_based = kind in (sampling.ParentBased, sampling.ParentBasedTraceIdRatio)
    return parent_based and sampler.get_description().endswith(local)
