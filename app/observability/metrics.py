"""Prometheus metrics of one app: provider calls, latency, policies and the call-log path.

Each app owns its registry, so several apps in one process (tests) never collide. Call
counters are fed by `CallObserver` off the event loop; everything else is read at scrape time.
A call whose trace was sampled leaves its trace id as the exemplar of its call counter and
latency bucket (shown in the OpenMetrics format only).
"""

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.integrations.schemas import ExternalResponse
from app.resilience.admission import SHED_BUCKETS, Admission
from app.state import StateBackend

# Seconds; the simulator answers in 5-120 ms, real APIs up to the 5 s read timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Writer statistics that only ever grow; every other numeric field is a gauge.
_WRITER_COUNTERS = frozenset(
    {"written", "dropped", "failed_batches", "spooled", "replayed", "slow_batches"}
)
BREAKER_STATES = ("closed", "half_open", "open")
# What a policy refuses before any network call (attempts == 0).
REFUSALS = frozenset({"circuit_open", "rate_limited", "bulkhead_full"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "fanout_provider_calls",
            "Provider calls by outcome and error kind (empty on success).",
            ["provider", "outcome", "error_kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fanout_provider_call_duration_seconds",
            "Provider call latency as the template method measured it.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "fanout_provider_retries",
            "Attempts past the first of each provider call.",
            ["provider"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "fanout_provider_fallbacks",
            "Failed calls answered with a fallback (stale=true: static value or last good one).",
            ["provider"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "fanout_policy_refusals",
            "Calls a policy refused before any network call, by kind.",
            ["provider", "kind"],
            registry=self.registry,
        )
        self._call_children: dict[tuple[str, str, str], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}
        self._runtime = _RuntimeCollector()
        self.registry.register(self._runtime)

    def bind(
        self,
        writer_stats: Callable[[], Any],
        providers: Sequence[Any],
        admission: Admission | None = None,
        state: StateBackend | None = None,
    ) -> None:
        """Where scrape-time values come from; called once the lifespan built them."""
        self._runtime.writer_stats = writer_stats
        self._runtime.providers = providers
        self._runtime.admission = admission
        self._runtime.state = state

    def exposition(self) -> bytes:
        """This process's metrics in Prometheus text format."""
        return generate_latest(self.registry)

    def record(self, results: Iterable[ExternalResponse]) -> None:
        """Count calls (only `CallObserver`'s thread calls this: the child caches need no lock)."""
        calls, latency = self._call_children, self._latency_children
        for result in results:
            kind = result.error_kind.value if result.error_kind else ""
            key = (result.provider, "success" if result.success else "failure", kind)
            counter = calls.get(key)
            if counter is None:
                # `labels()` checks and locks on every call: half of this method's time.
                counter = calls[key] = self.calls.labels(*key)
            trace_id = result.trace_id if result.trace_sampled else None
            exemplar = {"trace_id": trace_id} if trace_id else None
            counter.inc(exemplar=exemplar)
            histogram = latency.get(result.provider)
            if histogram is None:
                histogram = latency[result.provider] = self.latency.labels(result.provider)
            histogram.observe(result.response_time_ms / 1000, exemplar=exemplar)
            if result.attempts > 1:
                self.retries.labels(result.provider).inc(result.attempts - 1)
            if result.stale:
                self.fallbacks.labels(result.provider).inc()
            if result.attempts == 0 and kind in REFUSALS:
                self.refusals.labels(result.provider, kind).inc()


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


class _RuntimeCollector(Collector):
    def __init__(self) -> None:
        self.writer_stats: Callable[[], Any] | None = None
        self.providers: Sequence[Any] = ()
        self.admission: Admission | None = None
        self.state: StateBackend | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # values only exist once the app started; describe nothing up front

    def collect(self) -> Iterable[Metric]:
        yield from self._writer()
        yield from self._breakers()
        yield from self._admission()
        yield from self._cache()
        yield from self._policies()
        yield from self._state()

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
