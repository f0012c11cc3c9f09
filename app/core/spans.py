"""Light spans: the OpenTelemetry API's `Span` and `Tracer`, cheap enough for every call.

The SDK's spans cost about 23 us of CPU each to make and end (attributes behind a lock and
checked one by one, the sampler asked for every span, a processor per span); a fan-out makes
two per upstream call, whose own cost is under 100 us. These keep what the API promises
(`start_span`, `start_as_current_span`, attributes, status, events, the current span in the
context) and cost about a microsecond: slots, ids from `random.getrandbits`, attributes in a
plain dict (their values come from our own code, kinds and counts), and no lock. The
encoder checks what it sends (`app.observability.otlp`).

A finished span that is sampled goes to the tracer's `on_end` (the export queue of
`app.observability.span_pipeline`, or a test's list): no processor chain, no copy.

Sampling uses the SDK's samplers, asked only where a decision is made: a root, or a span
whose parent came from elsewhere (a `traceparent`). A child of one of our spans takes its
parent's decision, which is what every sampler `OTEL_TRACES_SAMPLER` can name would answer:
always_on/off are constant, traceidratio decides on the trace id (the parent's), and the
parent-based ones follow a local parent's sampled flag (`inherits_locally`).
"""

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as context_api
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes, AttributeValue

if TYPE_CHECKING:  # the SDK is imported once tracing is on: off, it is never loaded
    from opentelemetry.sdk.trace.sampling import Decision, Sampler

SAMPLED = 0x01
RANDOM_TRACE_ID = 0x02  # W3C level 2: our trace ids are random (as the SDK's are)

_bits = random.getrandbits
_now = time.time_ns
_new = object.__new__
_FLAGS = [f"-{flags:02x}" for flags in range(256)]


class SharedAttributes(dict[str, AttributeValue]):
    """Attributes several spans share: those of a provider's calls (or attempts) that ended
    alike. Never changed once made, so the encoder encodes each once (by identity)."""

    __slots__ = ()


_NONE = SharedAttributes()  # a span's attributes until it has some of its own


class LightSpan(Span):
    """One span; its fields are read directly by the encoder and the W3C headers.

    Made by `LightTracer` only, without `__init__`: a span is made per call and attempt, and
    each store counts. The fields most spans never set are class defaults until they do.
    """

    __slots__ = (
        "_on_end",
        "_open",  # recording and not ended: attributes are still taken
        "attributes",
        "end_time",  # set by `end`
        "flags",
        "kind",
        "name",
        "parent_id",  # 0: a root
        "span_id",
        "start_time",
        "trace_hex",  # 32 hex digits, made once per trace: rows and headers
        "trace_id",
        "trace_state",
    )
    _on_end: Callable[["LightSpan"], None]
    _open: bool
    attributes: dict[str, AttributeValue]
    end_time: int
    flags: int
    kind: SpanKind
    name: str
    parent_id: int
    span_id: int
    start_time: int
    trace_hex: str
    trace_id: int
    trace_state: TraceState | None

    parent_remote = False
    status: Status | None = None
    events: list[tuple[str, int, dict[str, AttributeValue]]] | None = None
    dropped_links = 0

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def traceparent(self) -> str:
        """The W3C `traceparent` naming this span as the parent."""
        span_id = self.span_id.to_bytes(8, "big").hex()
        return "00-" + self.trace_hex + "-" + span_id + _FLAGS[self.flags]

    def end(self, end_time: int | None = None) -> None:
        if self._open:
            self._open = False  # from here on the export thread may read it: no more changes
            self.end_time = end_time if end_time is not None else _now()
            if self.flags & SAMPLED:  # a record-only span (no sampled flag) is not exported
                self._on_end(self)

    def get_span_context(self) -> SpanContext:
        return SpanContext(
            self.trace_id,
            self.span_id,
            is_remote=False,
            trace_flags=TraceFlags(self.flags),
            trace_state=self.trace_state,
        )

    def end_shared(self, attributes: SharedAttributes) -> None:
        """End the span, its attributes (those it had, and) `attributes`: a mapping spans
        that ended alike share, which the encoder encodes once."""
        if self._open:
            if self.attributes:
                self.attributes = {**self.attributes, **attributes}
            else:
                self.attributes = attributes
            self.end()

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self._open:
            self._own().update(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self._open:
            self._own()[key] = value

    def _own(self) -> dict[str, AttributeValue]:
        """The span's attributes as a mapping of its own (a shared one is copied)."""
        attributes = self.attributes
        if attributes.__class__ is SharedAttributes:
            attributes = self.attributes = dict(attributes)
        return attributes

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        if self._open:
            if self.events is None:
                self.events = []
            at = timestamp if timestamp is not None else _now()
            self.events.append((name, at, dict(attributes or {})))

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # The type only: an exception's message and traceback may hold what a client sent.
        event: dict[str, AttributeValue] = {"exception.type": type(exception).__qualname__}
        event.update(attributes or {})
        self.add_event("exception", event, timestamp)

    def update_name(self, name: str) -> None:
        if self._open:
            self.name = name

    def is_recording(self) -> bool:
        return self._open

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: OK is final, UNSET is never set, a description only goes with ERROR.
        if not self._open or (self.status is not None and self.status.is_ok):
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if not status.is_unset:
            self.status = status


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
        span.attributes = dict(attributes) if attributes else _NONE
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
        span.attributes = dict(attributes) if attributes else _NONE
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
