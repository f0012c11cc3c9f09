"""The call-log writer's batches as traces of their own (tracing on only).

A batch holds rows of many requests, so its span is a root: it links to no request's trace
and carries counts only, never a row's content.
"""

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.trace import StatusCode

from app.calllog.intake import Entry
from app.core import tracing

if TYPE_CHECKING:
    from app.calllog.pipeline import Pipeline


def traced_batch(pipeline: "Pipeline", batch: list[Entry], spill: bool) -> bool:
    """`pipeline.store(batch, spill)` inside a root span saying where the rows went."""
    tracer = tracing.tracer
    if tracer is None:
        return pipeline.store(batch, spill)
    written, spooled = pipeline.written, pipeline.spooled
    with tracer.start_as_current_span(
        "call-log batch",
        context=Context(),  # a new trace, whatever the thread's context holds
        attributes={"calllog.rows": sum(len(entry.results) for entry in batch)},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        stored = pipeline.store(batch, spill)
        if pipeline.written > written:
            outcome = "database"
        elif pipeline.spooled > spooled:
            outcome = "spool"
        else:
            outcome = "requeued"  # neither took it: the batch waits in the queue
            span.set_status(StatusCode.ERROR)
        span.set_attribute("calllog.outcome", outcome)
        return stored
