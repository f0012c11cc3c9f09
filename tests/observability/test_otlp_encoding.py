"""Our OTLP encoder, read back with opentelemetry-proto's own `ExportTraceServiceRequest`:
what it decodes to is what the spans held."""

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, DEFAULT_ON
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from app.core.spans import LightSpan, SharedAttributes
from app.core.tracer import LightTracer
from app.observability.otlp import Encoder

RESOURCE: dict[str, Any] = {"service.name": "fanout-tests", "service.instance.id": "ü-1", "pid": 42}


def _decode(encoder: Encoder, spans: list[LightSpan]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(encoder.encode(spans))
    return request


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    assert kind is not None
    return getattr(value, kind)


def _attributes(decoded: PbSpan) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in decoded.attributes}


def _typed(decoded: PbSpan) -> dict[str, str | None]:
    return {item.key: item.value.WhichOneof("value") for item in decoded.attributes}


def _spans(request: ExportTraceServiceRequest) -> list[PbSpan]:
    (resource_spans,) = request.resource_spans
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope.name == "app"
    return list(scope_spans.spans)


def test_every_field_decodes_to_what_the_span_held() -> None:
    ended: list[LightSpan] = []
    tracer = LightTracer(DEFAULT_ON, ended.append)
    attributes: dict[str, Any] = {
        "text": "naïve ☃ 東京",
        "ünïcode.key": "v",
        "empty": "",
        "int": 7,
        "zero": 0,
        "negative": -12345,
        "int64.max": 2**63 - 1,
        "int64.min": -(2**63),
        "true": True,
        "false": False,
        "float": 2.5,
        "negative.float": -0.125,
        "strings": ["a", "b"],
        "ints": [1, 2, 3],
    }
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "v1")]),
    )
    with tracer.start_as_current_span(
        "server ✓", context=set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER
    ) as server:
        child = tracer.start_span("child", attributes=attributes, links=[Link(remote)])
        child.set_status(StatusCode.ERROR, "upstream answered HTTP 503")
        child.add_event("retry", {"attempt": 2}, timestamp=123)
        child.end()
    root = tracer.start_span("root", kind=SpanKind.CLIENT)
    root.end()

    decoded = _spans(_decode(Encoder(RESOURCE, "app"), ended))
    (resource_spans,) = _decode(Encoder(RESOURCE, "app"), ended).resource_spans
    assert {a.key: _value(a.value) for a in resource_spans.resource.attributes} == RESOURCE

    assert [s.name for s in decoded] == ["child", "server ✓", "root"]
    for pb, span in zip(decoded, ended, strict=True):
        assert pb.trace_id == span.trace_id.to_bytes(16, "big")
        assert pb.span_id == span.span_id.to_bytes(8, "big")
        assert (pb.start_time_unix_nano, pb.end_time_unix_nano) == (span.start_time, span.end_time)
        assert pb.kind == span.kind.value + 1
    pb_child, pb_server, pb_root = decoded
    assert _attributes(pb_child) == attributes
    assert _typed(pb_child)["true"] == "bool_value" and _typed(pb_child)["int"] == "int_value"
    assert _typed(pb_child)["float"] == "double_value"
    assert pb_child.parent_span_id == server.span_id.to_bytes(8, "big")
    assert pb_child.status.code == 2 and pb_child.status.message == "upstream answered HTTP 503"
    (event,) = pb_child.events
    assert (event.name, event.time_unix_nano, _value(event.attributes[0].value)) == (
        "retry",
        123,
        2,
    )
    assert pb_child.dropped_links_count == 1
    assert pb_child.trace_state == "vendor=v1"
    assert pb_child.flags == 0x100  # its parent is local
    assert pb_server.parent_span_id == remote.span_id.to_bytes(8, "big")
    assert pb_server.flags == 0x300  # its parent came from elsewhere
    assert pb_server.kind == PbSpan.SPAN_KIND_SERVER and pb_server.attributes == []
    assert pb_root.parent_span_id == b"" and not pb_root.HasField("status")
    assert pb_root.trace_id != pb_child.trace_id


def test_equal_values_of_other_types_keep_their_own_encoding() -> None:
    """True == 1 == 1.0, and the encoder keeps what it encoded: each type has its own."""
    encoder = Encoder(RESOURCE, "app")
    for _ in range(2):  # the second time, every pair comes from the cache
        ended: list[LightSpan] = []
        tracer = LightTracer(ALWAYS_ON, ended.append)
        for value in (True, 1, 1.0, "1", 0, False, 0.0):
            tracer.start_span("s", attributes={"k": value}).end()
        decoded = _spans(_decode(encoder, ended))
        assert [_typed(s)["k"] for s in decoded] == [
            "bool_value",
            "int_value",
            "double_value",
            "string_value",
            "int_value",
            "bool_value",
            "double_value",
        ]
        assert [_attributes(s)["k"] for s in decoded] == [True, 1, 1.0, "1", 0, False, 0.0]


def test_what_an_attribute_may_not_hold_is_left_out_and_counted() -> None:
    ended: list[LightSpan] = []
    tracer = LightTracer(ALWAYS_ON, ended.append)
    odd: dict[str, Any] = {
        "kept": "yes",
        "none": None,
        "mapping": {"a": 1},
        "object": object(),
        "mixed list": [1, object()],
        "beyond int64": 2**64,
        "lone surrogate": "a\udc80b",
    }
    tracer.start_span("odd", attributes=odd).end()
    tracer.start_span("empty").end()
    pb_odd, pb_empty = _spans(_decode(Encoder(RESOURCE, "app"), ended))
    assert _attributes(pb_odd) == {
        "kept": "yes",
        "beyond int64": str(2**64),  # as its decimal digits rather than lost
        "lone surrogate": "a?b",  # protobuf strings are UTF-8: a collector would refuse it
    }
    assert pb_odd.dropped_attributes_count == 4
    assert pb_empty.attributes == [] and pb_empty.dropped_attributes_count == 0


def test_shared_attributes_are_encoded_once_and_stay_right() -> None:
    encoder = Encoder(RESOURCE, "app")
    ended: list[LightSpan] = []
    tracer = LightTracer(ALWAYS_ON, ended.append)
    success = SharedAttributes({"fanout.outcome": "success", "fanout.attempts": 1})
    failure = SharedAttributes({"fanout.outcome": "failure", "fanout.attempts": 3})
    for shared in (success, failure, success):
        tracer.start_span("provider p").end_shared(shared)
    first = [_attributes(s) for s in _spans(_decode(encoder, ended))]
    again = [_attributes(s) for s in _spans(_decode(encoder, ended))]
    assert first == again == [dict(success), dict(failure), dict(success)]
    # A new mapping, though equal to one encoded before, is encoded (and found) as its own.
    ended.clear()
    tracer.start_span("p").end_shared(SharedAttributes({"fanout.outcome": "cancelled"}))
    assert [_attributes(s) for s in _spans(_decode(encoder, ended))] == [
        {"fanout.outcome": "cancelled"}
    ]


def test_many_spans_and_long_ones_frame_correctly() -> None:
    ended: list[LightSpan] = []
    tracer = LightTracer(ALWAYS_ON, ended.append)
    with tracer.start_as_current_span("root") as root:
        for n in range(600):
            tracer.child(root, f"span {n}", attributes={"n": n, "pad": "x" * (n * 30)}).end()
    decoded = _spans(_decode(Encoder(RESOURCE, "app"), ended))
    assert len(decoded) == 601
    assert [_attributes(s)["n"] for s in decoded[:-1]] == list(range(600))
    assert len(_attributes(decoded[599])["pad"]) == 599 * 30  # a span over 16 KiB
