"""The light spans keep the OpenTelemetry API's promises, and ask the sampler only where a
decision is made (a root, a remote parent)."""

from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    DEFAULT_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from app.core.spans import LightSpan, SharedAttributes
from app.core.tracer import LightTracer, inherits_locally
from app.core.tracing import trace_headers


def _tracer(sampler: Sampler = DEFAULT_ON) -> tuple[LightTracer, list[LightSpan]]:
    ended: list[LightSpan] = []
    return LightTracer(sampler, ended.append), ended


def _counted(sampler: ParentBased) -> list[int]:
    """How often `sampler` is asked (counted on the instance: its type stays the SDK's)."""
    calls = [0]
    ask = sampler.should_sample

    def should_sample(*args: Any, **kwargs: Any) -> SamplingResult:
        calls[0] += 1
        return ask(*args, **kwargs)

    sampler.should_sample = should_sample  # type: ignore[method-assign]
    return calls


def test_children_share_the_trace_and_name_their_parent() -> None:
    tracer, ended = _tracer()
    with tracer.start_as_current_span("root", attributes={"a": 1}) as root:
        assert get_current_span() is root
        child = tracer.start_span("child", kind=SpanKind.CLIENT)
        grandchild = tracer.start_span("grandchild", context=set_span_in_context(child))
        grandchild.end()
        child.end()
    assert get_current_span() is not root  # the context is restored
    assert [s.name for s in ended] == ["grandchild", "child", "root"]
    assert {s.trace_id for s in ended} == {root.trace_id}
    assert (child.parent_id, grandchild.parent_id, root.parent_id) == (
        root.span_id,
        child.span_id,
        0,
    )
    assert len({s.span_id for s in ended}) == 3 and all(s.span_id for s in ended)
    assert root.attributes == {"a": 1} and child.kind is SpanKind.CLIENT
    assert all(s.start_time <= s.end_time for s in ended)
    context = child.get_span_context()
    assert context.is_valid and not context.is_remote and context.trace_flags.sampled
    assert (context.trace_id, context.span_id) == (child.trace_id, child.span_id)


def test_the_sampler_is_asked_at_roots_only_when_children_follow_their_parent() -> None:
    sampler = ParentBased(TraceIdRatioBased(1.0))
    calls = _counted(sampler)
    tracer, ended = _tracer(sampler)
    with tracer.start_as_current_span("root"):
        for _ in range(3):
            tracer.start_span("child").end()
    assert calls == [1] and len(ended) == 4


def test_a_sampler_of_our_own_making_is_asked_for_every_span() -> None:
    class EveryOther(Sampler):
        def __init__(self) -> None:
            self.asked = 0

        def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
            self.asked += 1
            return DEFAULT_ON.should_sample(*args, **kwargs)

        def get_description(self) -> str:
            return "EveryOther"

    sampler = EveryOther()
    assert not inherits_locally(sampler)
    tracer, ended = _tracer(sampler)
    with tracer.start_as_current_span("root") as root:
        tracer.child(root, "one").end()
        tracer.start_span("two").end()
    assert sampler.asked == 3 and len(ended) == 3


@pytest.mark.parametrize(
    "sampler",
    [
        ALWAYS_OFF,
        TraceIdRatioBased(0.5),
        DEFAULT_ON,
        ParentBased(TraceIdRatioBased(0.5)),
    ],
    ids=["static", "traceidratio", "parentbased", "parentbased-ratio"],
)
def test_every_sampler_the_environment_names_decides_children_as_their_parent(
    sampler: Sampler,
) -> None:
    assert inherits_locally(sampler)
    assert not inherits_locally(ParentBased(DEFAULT_ON, local_parent_not_sampled=DEFAULT_ON))


def test_a_ratio_sampler_gives_the_trace_one_decision() -> None:
    tracer, ended = _tracer(TraceIdRatioBased(0.5))
    decisions = set()
    for _ in range(40):
        with tracer.start_as_current_span("root") as root:
            child = tracer.start_span("child")
            child.end()
        assert child.sampled is root.sampled and child.is_recording() is False
        decisions.add(root.sampled)
    assert decisions == {True, False}  # 40 traces at one in two: both happened
    assert all(s.trace_id == e.trace_id for s, e in zip(ended[::2], ended[1::2], strict=True))


def test_an_unsampled_trace_records_nothing_but_still_names_itself_upstream() -> None:
    tracer, ended = _tracer(ALWAYS_OFF)
    with tracer.start_as_current_span("root") as root:
        child = tracer.start_span("child")
        child.set_attribute("a", 1)
        child.end()
    assert ended == [] and not root.is_recording() and not child.sampled
    assert child.attributes == {}
    (name, value), *_ = trace_headers(child)
    assert (name, value) == ("traceparent", f"00-{child.trace_hex}-{child.span_id:016x}-02")


def test_a_remote_parent_is_continued_and_decided_by_the_sampler() -> None:
    state = TraceState([("vendor", "v1")])
    for flags, sampled in ((TraceFlags(1), True), (TraceFlags(0), False)):
        remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags, trace_state=state)
        tracer, ended = _tracer()
        parent = set_span_in_context(NonRecordingSpan(remote))
        with tracer.start_as_current_span("server", context=parent) as span:
            tracer.start_span("child").end()
        assert (span.trace_id, span.parent_id, span.parent_remote) == (0xABC, 0xDEF, True)
        assert span.sampled is sampled and len(ended) == (2 if sampled else 0)
        assert span.trace_hex == f"{0xABC:032x}"
        assert dict(trace_headers(span))["tracestate"] == "vendor=v1"
    # An empty context is a root, whatever is current.
    tracer, _ = _tracer()
    with tracer.start_as_current_span("outer"):
        assert tracer.start_span("fresh", context=Context()).parent_id == 0


def test_status_attributes_and_ending_follow_the_api() -> None:
    tracer, ended = _tracer()
    span = tracer.start_span("s")
    span.set_status(StatusCode.UNSET)
    assert span.status is None
    span.set_status(StatusCode.ERROR, "boom")
    assert span.status is not None and span.status.description == "boom"
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR)  # OK is final
    assert span.status.status_code is StatusCode.OK
    span.update_name("renamed")
    span.set_attributes({"a": 1, "b": True})
    span.end()
    span.end()  # a second end changes nothing and exports nothing
    span.set_attribute("late", 1)
    span.update_name("too late")
    assert len(ended) == 1 and span.name == "renamed" and span.attributes == {"a": 1, "b": True}


def test_shared_attributes_are_never_changed_through_a_span() -> None:
    tracer, _ = _tracer()
    shared = SharedAttributes({"outcome": "success"})
    one, two = tracer.start_span("one"), tracer.start_span("two", attributes={"own": 1})
    one.end_shared(shared)
    two.end_shared(shared)
    assert one.attributes is shared
    assert two.attributes == {"own": 1, "outcome": "success"} and two.attributes is not shared
    three = tracer.start_span("three")
    three.set_attribute("x", 1)  # a span's first attribute: a mapping of its own
    three.end_shared(shared)
    assert shared == {"outcome": "success"}


def test_an_exception_in_the_block_sets_the_status_and_records_its_type_only() -> None:
    tracer, ended = _tracer()
    with pytest.raises(ValueError, match="hunter2"), tracer.start_as_current_span("s"):
        raise ValueError("a client's secret=hunter2")
    (span,) = ended
    assert span.status is not None and span.status.status_code is StatusCode.ERROR
    assert span.events is not None
    ((name, _, attributes),) = span.events
    assert (name, attributes) == ("exception", {"exception.type": "ValueError"})
    # The message is in the status description, as the API sets it; callers that may see a
    # client's text pass set_status_on_exception=False (ours all do).
    with (
        pytest.raises(ValueError, match="x"),
        tracer.start_as_current_span(
            "quiet", record_exception=False, set_status_on_exception=False
        ),
    ):
        raise ValueError("x")
    assert ended[-1].status is None and ended[-1].events is None
