"""The metrics of the policies: retries, fallbacks, refusals, bulkheads, rate-limit waits,
and exemplars naming the trace of a sampled call."""

import math
from datetime import UTC, datetime
from types import SimpleNamespace

from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from app.core.errors import ErrorKind
from app.integrations.schemas import ExternalResponse
from app.main import create_app
from app.observability.metrics import Metrics
from app.resilience.policy import build_policy, policy_defaults
from app.resilience.runner import PolicyRunner
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _result(
    provider: str,
    kind: ErrorKind | None = None,
    *,
    attempts: int = 1,
    stale: bool = False,
    trace_id: str | None = None,
    sampled: bool = False,
) -> ExternalResponse:
    return ExternalResponse.model_construct(
        provider=provider,
        success=kind is None,
        data=None,
        error_message=None,
        response_time_ms=12.0,
        is_validation_error=False,
        status_code=None,
        error_kind=kind,
        attempts=attempts,
        stale=stale,
        started_at=datetime.now(UTC),
        trace_id=trace_id,
        trace_sampled=sampled,
    )


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = openmetrics(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_retries_fallbacks_and_refusals_per_kind_are_counted() -> None:
    metrics = Metrics()
    metrics.record(
        [
            _result("a", attempts=3),  # two retries, then success
            _result("a", ErrorKind.TIMEOUT, attempts=2, stale=True),  # one retry, a fallback
            _result("b", ErrorKind.CIRCUIT_OPEN, attempts=0),
            _result("b", ErrorKind.CIRCUIT_OPEN, attempts=0, stale=True),
            _result("b", ErrorKind.BULKHEAD_FULL, attempts=0),
            _result("c", ErrorKind.RATE_LIMITED, attempts=0),
            # An upstream's Retry-After past the deadline: rate_limited, but the call was made.
            _result("c", ErrorKind.RATE_LIMITED, attempts=1),
        ]
    )
    samples = _samples(metrics)
    assert samples[("fanout_provider_retries_total", (("provider", "a"),))] == 3
    assert samples[("fanout_provider_fallbacks_total", (("provider", "a"),))] == 1
    assert samples[("fanout_provider_fallbacks_total", (("provider", "b"),))] == 1
    refusals = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "fanout_policy_refusals_total"
    }
    assert refusals == {
        (("kind", "circuit_open"), ("provider", "b")): 2,
        (("kind", "bulkhead_full"), ("provider", "b")): 1,
        (("kind", "rate_limited"), ("provider", "c")): 1,
    }


def test_a_sampled_calls_trace_id_is_the_exemplar_of_its_count_and_latency() -> None:
    metrics = Metrics()
    metrics.record([_result("a", trace_id=TRACE, sampled=True)])
    metrics.record([_result("b", trace_id="1" * 32, sampled=False)])  # no trace to show
    text = openmetrics(metrics.registry).decode()
    lines = [line for line in text.splitlines() if "# {" in line]
    assert lines, text
    assert all(f'trace_id="{TRACE}"' in line for line in lines)
    assert any(line.startswith("fanout_provider_calls_total{") for line in lines)
    assert any(line.startswith("fanout_provider_call_duration_seconds_bucket{") for line in lines)
    assert "1" * 32 not in text


def _provider(name: str, **policy: object) -> SimpleNamespace:
    settings = make_settings("sqlite://")
    built = build_policy(name, policy_defaults(settings), {}, policy)
    return SimpleNamespace(name=name, runner=PolicyRunner(name, built))


def test_bulkhead_occupancy_and_rate_limit_waits_are_read_at_scrape_time() -> None:
    limited = _provider("limited", max_concurrency=4, rate_limit_per_s=1000, rate_limit_burst=1)
    plain = _provider("plain", max_concurrency=None)
    metrics = Metrics()
    metrics.bind(lambda: SimpleNamespace(), [limited, plain])
    runner = limited.runner
    assert runner.bulkhead.try_enter() and runner.bulkhead.try_enter()
    assert runner.bucket.reserve(math.inf) == 0  # the burst's token: no wait
    wait = runner.bucket.reserve(math.inf)  # the next one is 1 ms away
    assert wait is not None and wait > 0

    samples = _samples(metrics)
    assert samples[("fanout_bulkhead_in_flight", (("provider", "limited"),))] == 2
    assert samples[("fanout_bulkhead_limit", (("provider", "limited"),))] == 4
    assert samples[("fanout_bulkhead_waiting", (("provider", "limited"),))] == 0
    assert samples[("fanout_rate_limit_waits_total", (("provider", "limited"),))] == 1
    waited = samples[("fanout_rate_limit_wait_seconds_total", (("provider", "limited"),))]
    assert waited == wait
    # A provider without those policies has no series of them.
    assert not [
        name
        for name, labels in samples
        if ("provider", "plain") in labels and name.startswith(("fanout_bulkhead", "fanout_rate"))
    ]


async def test_metrics_speak_openmetrics_to_a_scraper_that_asks(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9")
    app = create_app(settings, registry=demo_registry())
    async for client in api_client(app):
        plain = await client.get("/metrics")
        asked = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert plain.headers["content-type"].startswith("text/plain")
    assert asked.headers["content-type"].startswith("application/openmetrics-text")
    assert asked.text.rstrip().endswith("# EOF")
