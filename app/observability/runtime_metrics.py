"""Scrape-time metrics: values the app's parts hold, read when Prometheus asks.

The call-log writer's counters, circuit breakers, admission control, response caches,
bulkheads and rate-limit waits, shared state, and the span export. Nothing here is on a
request's path: `Metrics` (`metrics.py`) registers one `RuntimeCollector` per app.
"""

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.observability.span_pipeline import SpanPipeline
from app.resilience.admission import SHED_BUCKETS, Admission
from app.state import StateBackend

# Writer statistics that only ever grow; every other numeric field is a gauge.
_WRITER_COUNTERS = frozenset(
    {"written", "dropped", "failed_batches", "spooled", "replayed", "slow_batches"}
)
BREAKER_STATES = ("closed", "half_open", "open")


def breaker_state(provider: Any) -> str | None:
    """A provider's circuit breaker state, when it has one.

    Looked up as `breaker_state`, `breaker.state` or `runner.breaker.state` (the resilience
    policy runner's); a provider without a breaker has no state and no gauge.
    """
    state = getattr(provider, "breaker_state", None)
    if state is None:
        breaker = getattr(provider, "breaker", None)
        if breaker is None:
            breaker = getattr(getattr(provider, "runner", None), "breaker", None)
        state = getattr(breaker, "state", None)
    if callable(state):
        state = state()
    if state is None:
        return None
    text = str(getattr(state, "value", state)).lower().replace("-", "_")
    return text if text in BREAKER_STATES else None


def cache_counts(provider: Any) -> dict[str, int] | None:
    """A provider's response-cache and coalescing counts since start; None when both are off."""
    reuse = getattr(provider, "reuse", None)
    if reuse is None or not reuse.active:
        return None
    counts: dict[str, int] = reuse.counters.as_dict()
    return counts


class RuntimeCollector(Collector):
    """What the app's parts know at scrape time: writer, breakers, admission, caches,
    policies, shared state and the span export."""

    def __init__(self) -> None:
        self.writer_stats: Callable[[], Any] | None = None
        self.providers: Sequence[Any] = ()
        self.admission: Admission | None = None
        self.state: StateBackend | None = None
        self.spans: SpanPipeline | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # values only exist once the app started; describe nothing up front

    def collect(self) -> Iterable[Metric]:
        yield from self._writer()
        yield from self._breakers()
        yield from self._admission()
        yield from self._cache()
        yield from self._policies()
        yield from self._state()
        yield from self._spans()

    def _spans(self) -> Iterable[Metric]:
        """The span export (tracing on only): a receiver that is down or a full queue drops
        spans, which operators should see without reading the log."""
        if self.spans is None:
            return
        yield CounterMetricFamily(
            "fanout_trace_spans_exported", "Spans the OTLP receiver took.", self.spans.exported
        )
        dropped = CounterMetricFamily(
            "fanout_trace_spans_dropped",
            "Spans not exported: the queue was full (queue_full, OTEL_BSP_MAX_QUEUE_SIZE) or "
            "the receiver did not take them within the retries (export_failed).",
            labels=["reason"],
        )
        dropped.add_metric(["queue_full"], float(self.spans.dropped_full))
        dropped.add_metric(["export_failed"], float(self.spans.dropped_failed))
        yield dropped

    def _admission(self) -> Iterable[Metric]:
        if self.admission is None:
            return
        stats = self.admission.stats()
        yield CounterMetricFamily(
            "fanout_admission_admitted", "Fan-outs admitted.", float(stats.admitted)
        )
        shed = CounterMetricFamily(
            "fanout_admission_shed",
            "Fan-outs refused with 503: no slot within the wait (full) or no room for one "
            "before the deadline (deadline).",
            labels=["reason"],
        )
        shed.add_metric(["full"], float(stats.shed_full))
        shed.add_metric(["deadline"], float(stats.shed_deadline))
        yield shed
        bounds = [str(b) for b in SHED_BUCKETS] + ["+Inf"]
        yield HistogramMetricFamily(
            "fanout_admission_shed_decision_seconds",
            "From a shed request's arrival at the gate to its 503.",
            buckets=list(zip(bounds, map(float, stats.shed_wait_buckets), strict=True)),
            sum_value=stats.shed_wait_sum_s,
        )
        for name, value, text in (
            ("limit", stats.limit, "Current bound on fan-outs in flight."),
            ("in_flight", stats.in_flight, "Fan-outs in flight."),
            ("queued", stats.queued, "Fan-outs waiting for a slot."),
            ("shedding", int(stats.shedding), "1 while requests are being shed."),
            ("expected_seconds", stats.expected_ms / 1000, "Recent mean fan-out duration."),
        ):
            yield GaugeMetricFamily(f"fanout_admission_{name}", text, float(value))

    def _state(self) -> Iterable[Metric]:
        if self.state is None:
            return
        status = self.state.status()
        yield GaugeMetricFamily(
            "fanout_shared_state_degraded",
            "1 while Redis does not answer and this worker runs on its share of local state.",
            float(status.degraded),
        )
        yield CounterMetricFamily(
            "fanout_shared_state_fallbacks",
            "Times this worker switched from Redis to local state.",
            float(status.fallbacks),
        )
        yield GaugeMetricFamily(
            "fanout_shared_state_live_workers",
            "Workers that sent a heartbeat to Redis in the last 3 s, as this worker last saw.",
            float(status.live_workers),
        )

    def _writer(self) -> Iterable[Metric]:
        if self.writer_stats is None:
            return
        stats = self.writer_stats()
        values = (
            dataclasses.asdict(stats)
            if dataclasses.is_dataclass(stats) and not isinstance(stats, type)
            else vars(stats)
        )
        for field, value in values.items():
            if not isinstance(value, int | float):  # bool is an int: alarms become 0/1
                continue
            if field in _WRITER_COUNTERS:
                # `failed_batches` and `slow_batches` count database writes, the others rows.
                unit = "batches" if field.endswith("_batches") else "rows"
                yield CounterMetricFamily(
                    f"fanout_call_log_{field}", f"Call-log writer: {field} ({unit}).", float(value)
                )
            else:
                yield GaugeMetricFamily(
                    f"fanout_call_log_{field}", f"Call-log writer: {field}.", float(value)
                )

    def _breakers(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "fanout_circuit_breaker_state",
            "1 for the state a provider's circuit breaker is in (only providers with one).",
            labels=["provider", "state"],
        )
        found = False
        for provider in self.providers:
            state = breaker_state(provider)
            if state is None:
                continue
            found = True
            for candidate in BREAKER_STATES:
                family.add_metric([provider.name, candidate], 1.0 if candidate == state else 0.0)
        if found:
            yield family

    def _cache(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "fanout_cache_results",
            "Provider calls by response-cache result (hit, miss, stale) and coalesced calls.",
            labels=["provider", "result"],
        )
        found = False
        for provider in self.providers:
            counts = cache_counts(provider)
            if counts is None:
                continue
            found = True
            for result, value in counts.items():
                family.add_metric([provider.name, result], float(value))
        if found:
            yield family

    def _policies(self) -> Iterable[Metric]:
        """Bulkhead occupancy and rate-limit waits of the providers that have those policies."""
        in_flight = GaugeMetricFamily(
            "fanout_bulkhead_in_flight", "Calls holding a bulkhead slot.", labels=["provider"]
        )
        limit = GaugeMetricFamily(
            "fanout_bulkhead_limit", "Bulkhead slots (max_concurrency).", labels=["provider"]
        )
        waiting = GaugeMetricFamily(
            "fanout_bulkhead_waiting", "Calls queued for a bulkhead slot.", labels=["provider"]
        )
        waits = CounterMetricFamily(
            "fanout_rate_limit_waits",
            "Calls that waited for an outbound rate-limit token.",
            labels=["provider"],
        )
        waited = CounterMetricFamily(
            "fanout_rate_limit_wait_seconds",
            "Time calls spent waiting for an outbound rate-limit token.",
            labels=["provider"],
        )
        bulkheads = buckets = False
        for provider in self.providers:
            runner = getattr(provider, "runner", None)
            bulkhead = getattr(runner, "bulkhead", None)
            if bulkhead is not None:
                bulkheads = True
                in_flight.add_metric([provider.name], float(bulkhead.in_flight))
                limit.add_metric([provider.name], float(bulkhead.limit))
                waiting.add_metric([provider.name], float(bulkhead.waiting))
            bucket = getattr(runner, "bucket", None)
            if bucket is not None:
                buckets = True
                waits.add_metric([provider.name], float(bucket.waits))
                waited.add_metric([provider.name], bucket.waited_s)
        if bulkheads:
            yield from (in_flight, limit, waiting)
        if buckets:
            yield from (waits, waited)
