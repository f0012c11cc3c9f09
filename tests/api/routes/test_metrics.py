"""`GET /metrics`: Prometheus text with calls, latency, call-log gauges and breaker states."""

from datetime import UTC, datetime
from types import SimpleNamespace

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.core.errors import ErrorKind
from app.integrations.schemas import ExternalResponse
from app.main import create_app
from app.observability.metrics import Metrics
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _result(provider: str, ms: float, kind: ErrorKind | None = None) -> ExternalResponse:
    return ExternalResponse.model_construct(
        provider=provider,
        success=kind is None,
        data=None,
        error_message=None,
        response_time_ms=ms,
        is_validation_error=kind is ErrorKind.VALIDATION_ERROR,
        status_code=None,
        error_kind=kind,
        attempts=1,
        started_at=datetime.now(UTC),
    )


async def test_fanout_calls_show_up(sqlite_url: str) -> None:
    async with Simulator(latency_scale=0, error_rate=1.0, drift_rate=0, seed=3) as failing:
        app = create_app(
            make_settings(sqlite_url, demo_upstream_url=failing.url), registry=demo_registry()
        )
        async for client in api_client(app):
            await client.get("/integrations/fetch", params={"providers": "weather,geocoding"})
            samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            key = (
                "fanout_provider_calls_total",
                (("error_kind", "http_status"), ("outcome", "failure"), ("provider", "weather")),
            )
            for _ in range(500):  # the observer thread counts behind the response
                response = await client.get("/metrics")
                samples = _samples(response.text)
                if key in samples:
                    break
            assert response.headers["content-type"].startswith("text/plain")
            assert samples[key] == 1
            count = ("fanout_provider_call_duration_seconds_count", (("provider", "geocoding"),))
            assert samples[count] == 1
            names = {name for name, _ in samples}
            assert "fanout_call_log_queued" in names
            assert "fanout_call_log_written_total" in names
            breaker = (("provider", "weather"), ("state", "closed"))
            assert samples[("fanout_circuit_breaker_state", breaker)] == 1


def test_outcomes_latency_buckets_and_runtime_gauges() -> None:
    metrics = Metrics()
    stats = SimpleNamespace(queued=12, written=30, dropped=0, spool_bytes=4096, alarm=True)
    breaker_providers = [
        SimpleNamespace(name="weather", breaker_state="open"),
        SimpleNamespace(name="geocoding", breaker=SimpleNamespace(state=lambda: "half-open")),
        SimpleNamespace(
            name="air_quality",
            runner=SimpleNamespace(breaker=SimpleNamespace(state=SimpleNamespace(value="closed"))),
        ),
        SimpleNamespace(name="plain"),
    ]
    metrics.bind(lambda: stats, breaker_providers)
    metrics.record(
        [
            _result("weather", 3.0),
            _result("weather", 40.0, ErrorKind.TIMEOUT),
            _result("weather", 700.0, ErrorKind.TIMEOUT),
        ]
    )
    samples = _samples(generate_latest(metrics.registry).decode())
    ok = (("error_kind", ""), ("outcome", "success"), ("provider", "weather"))
    timeouts = (("error_kind", "timeout"), ("outcome", "failure"), ("provider", "weather"))
    assert samples[("fanout_provider_calls_total", ok)] == 1
    assert samples[("fanout_provider_calls_total", timeouts)] == 2
    bucket = "fanout_provider_call_duration_seconds_bucket"
    assert samples[(bucket, (("le", "0.005"), ("provider", "weather")))] == 1
    assert samples[(bucket, (("le", "0.05"), ("provider", "weather")))] == 2
    assert samples[(bucket, (("le", "+Inf"), ("provider", "weather")))] == 3
    assert samples[("fanout_call_log_queued", ())] == 12
    assert samples[("fanout_call_log_written_total", ())] == 30
    assert samples[("fanout_call_log_spool_bytes", ())] == 4096
    assert samples[("fanout_call_log_alarm", ())] == 1
    state = "fanout_circuit_breaker_state"
    assert samples[(state, (("provider", "weather"), ("state", "open")))] == 1
    assert samples[(state, (("provider", "weather"), ("state", "closed")))] == 0
    assert samples[(state, (("provider", "geocoding"), ("state", "half_open")))] == 1
    assert samples[(state, (("provider", "air_quality"), ("state", "closed")))] == 1
    assert not any(dict(labels).get("provider") == "plain" for _, labels in samples)


def test_writer_counters_name_their_unit() -> None:
    metrics = Metrics()
    stats = SimpleNamespace(written=3, failed_batches=1, slow_batches=2)
    metrics.bind(lambda: stats, [])
    families = {
        f.name: f.documentation
        for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
    }
    assert families["fanout_call_log_written"].endswith("written (rows).")
    assert families["fanout_call_log_failed_batches"].endswith("failed_batches (batches).")
    assert families["fanout_call_log_slow_batches"].endswith("slow_batches (batches).")
