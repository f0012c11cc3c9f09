"""Light spans: the OpenTelemetry API's `Span`, cheap enough for every call and attempt.

The SDK's spans cost about 23 us of CPU each to make and end (attributes behind a lock and
checked one by one, the sampler asked for every span, a processor per span); a fan-out makes
two per upstream call, whose own cost is under 100 us. These keep what the API promises
(attributes, status, events, names, `get_span_context`) for a few stores each: slots, ids
from `random.getrandbits`, attributes in a plain dict (their values come from our own code,
kinds and counts; the encoder checks what it sends, `app.observability.otlp`), no lock.
`app.core.tracer.LightTracer` makes them; a finished span that is sampled goes to its
`on_end` (the export queue of `app.observability.span_pipeline`, or a test's list).
"""

import time
from collections.abc import Callable, Mapping

from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes, AttributeValue

SAMPLED = 0x01
RANDOM_TRACE_ID = 0x02  # W3C level 2: our trace ids are random (as the SDK's are)

_now = time.time_ns
_FLAGS = [f"-{flags:02x}" for flags in range(256)]


class SharedAttributes(dict[str, AttributeValue]):
    """Attributes several spans share: those of a provider's calls (or attempts) that ended
    alike. Never changed once made, so the encoder encodes each once (by identity)."""

    __slots__ = ()


NO_ATTRIBUTES = SharedAttributes()  # a span's attributes until it has some of its own


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
