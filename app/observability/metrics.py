"""Prometheus metrics of one app: provider calls, latency, policies and the call-log path.

Each app owns its registry, so several apps in one process (tests) never collide. Call
counters are fed by `CallObserver` off the event loop; everything else is read at scrape time.
A call whose trace was sampled leaves its trace id as the exemplar of its call counter and
latency bucket (shown in the OpenMetrics format only).
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from app.integrations.schemas import ExternalResponse
from app.observability.runtime_metrics import RuntimeCollector
from app.observability.span_pipeline import SpanPipeline
from app.resilience.admission import Admission
from app.state import StateBackend

# Seconds; the simulator answers in 5-120 ms, real APIs up to the 5 s read timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
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
        self._runtime = RuntimeCollector()
        self.registry.register(self._runtime)

    def bind(
        self,
        writer_stats: Callable[[], Any],
        providers: Sequence[Any],
        admission: Admission | None = None,
        state: StateBackend | None = None,
        spans: SpanPipeline | None = None,
    ) -> None:
        """Where scrape-time values come from; called once the lifespan built them."""
        self._runtime.writer_stats = writer_stats
        self._runtime.providers = providers
        self._runtime.admission = admission
        self._runtime.state = state
        self._runtime.spans = spans

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
