"""`GET /integrations/stats`: the same exact figures from PostgreSQL and from SQLite."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.calllog.histogram import RELATIVE_ERROR_BOUND
from app.queries.schemas import StatsResponse
from tests.observability.app_client import read_client
from tests.observability.seeding import NOW, call, percentile_cont, seed

WEATHER_MS = [5.0, 7.5, 11.0, 12.0, 13.25, 20.0, 21.0, 35.0, 80.0, 250.0, 3.0]
ROWS = [
    *[call("weather", ms, ago_s=100 + i) for i, ms in enumerate(WEATHER_MS)],
    call("weather", 999.0, ago_s=50, kind="timeout", status=None, message="deadline passed"),
    call("weather", 42.0, ago_s=30, kind="http_status", status=503, message="HTTP 503"),
    call("stock_quotes", 10.0, ago_s=200, kind="validation_error", message="price: not a number"),
    call("stock_quotes", 20.0, ago_s=100),
    # Outside the 15-minute window: counted in 1h only.
    call("geocoding", 70.0, ago_s=1800, kind="connection_error", status=None),
    # After `until`: never counted.
    call("weather", 1.0, ago_s=-5),
]
UNTIL = NOW.isoformat()


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    seed(database_url, ROWS)
    async for c in read_client(database_url):
        yield c


async def _stats(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/integrations/stats", params={"until": UNTIL, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["provider"]: p for p in body["providers"]}


async def test_per_provider_figures(client: httpx.AsyncClient) -> None:
    body = await _stats(client, window="15m")
    rows = _by_name(body)
    weather = rows["weather"]
    all_ms = [*WEATHER_MS, 999.0, 42.0]
    assert weather["calls"] == 13
    assert weather["succeeded"] == 11
    assert weather["success_rate"] == round(11 / 13, 4)
    assert weather["validation_error_rate"] == 0
    for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        assert weather[key] == pytest.approx(round(percentile_cont(all_ms, p), 3), abs=1e-3)
    assert weather["errors_by_kind"] == {"timeout": 1, "http_status": 1}
    assert weather["breaker_state"] == "closed"  # the live breaker, not a stored value
    last = weather["last_error"]
    assert last["error_kind"] == "http_status"
    assert last["status_code"] == 503
    assert last["message"] == "HTTP 503"
    assert last["at"].startswith("2026-11-22T11:59:30")

    stock = rows["stock_quotes"]
    assert stock["calls"] == 2
    assert stock["validation_error_rate"] == 0.5
    assert stock["p50_ms"] == 15.0
    assert stock["errors_by_kind"] == {"validation_error": 1}

    # Registered but silent in the window: a row of zeros, no made-up rates.
    geocoding = rows["geocoding"]
    assert geocoding["calls"] == 0
    assert geocoding["success_rate"] is None
    assert geocoding["p95_ms"] is None
    assert geocoding["last_error"] is None


async def test_short_windows_are_exact_and_long_ones_read_the_rollup(
    client: httpx.AsyncClient,
) -> None:
    assert (await _stats(client, window="1h"))["percentiles"] == "exact"
    for window in ("6h", "24h", "7d"):
        body = await _stats(client, window=window)
        assert body["percentiles"] == "histogram"
        weather = _by_name(body)["weather"]
        # Counts, kinds and the last error stay exact; percentiles within the bound.
        assert (weather["calls"], weather["succeeded"]) == (13, 11)
        assert weather["errors_by_kind"] == {"timeout": 1, "http_status": 1}
        assert weather["last_error"]["message"] == "HTTP 503"
        all_ms = [*WEATHER_MS, 999.0, 42.0]
        for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            exact = percentile_cont(all_ms, p)
            assert abs(weather[key] - exact) <= RELATIVE_ERROR_BOUND * exact
        assert _by_name(body)["geocoding"]["errors_by_kind"] == {"connection_error": 1}
        assert sum(p["calls"] for p in body["series"]) == 16


def test_the_documented_error_bound_is_the_histograms() -> None:
    description = StatsResponse.model_fields["percentiles"].description or ""
    assert f"within {RELATIVE_ERROR_BOUND:.0%}".replace("%", " %") in description


async def test_wider_window_and_provider_filter(client: httpx.AsyncClient) -> None:
    body = await _stats(client, window="1h", provider="geocoding,stock_quotes")
    rows = _by_name(body)
    assert set(rows) == {"geocoding", "stock_quotes"}
    assert rows["geocoding"]["calls"] == 1
    assert rows["geocoding"]["errors_by_kind"] == {"connection_error": 1}
    assert rows["geocoding"]["p99_ms"] == 70.0


async def test_series_buckets_cover_the_window(client: httpx.AsyncClient) -> None:
    body = await _stats(client, window="15m", provider="weather")
    assert body["bucket_s"] == 15
    series = body["series"]
    assert len(series) == 60
    assert series[0]["start"].startswith("2026-11-22T11:45:00")
    assert sum(p["calls"] for p in series) == 13
    assert sum(p["failures"] for p in series) == 2
    # 11:59:30 holds only the 42 ms failure; 11:58:15-11:58:30 holds ago_s 100..105 (6 rows).
    by_start = {p["start"][11:19]: p for p in series}
    assert by_start["11:59:30"]["calls"] == 1
    assert by_start["11:59:30"]["p95_ms"] == pytest.approx(42.0)
    bucket = by_start["11:58:15"]
    ms = WEATHER_MS[:6]
    assert bucket["calls"] == 6
    assert bucket["p95_ms"] == pytest.approx(percentile_cont(ms, 0.95))
    assert by_start["11:45:00"] == {
        "start": by_start["11:45:00"]["start"],
        "calls": 0,
        "failures": 0,
        "p95_ms": None,
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "2w"}, "window"),
        ({"until": "0.5"}, "until"),
        ({"provider": "nope"}, "provider"),
        ({"provider": ""}, "provider"),  # an empty name is a mistake, not "every provider"
    ],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/integrations/stats", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_an_empty_database_answers_zeros(sqlite_url: str) -> None:
    seed(sqlite_url, [])
    async for client in read_client(sqlite_url):
        body = await _stats(client, window="24h")
        assert body["bucket_s"] == 1800
        assert all(p["calls"] == 0 for p in body["series"])
        assert all(p["calls"] == 0 for p in body["providers"])


async def test_a_window_before_1970_is_empty_not_an_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/stats", params={"until": "0001-01-01T00:00:00Z"})
    assert response.status_code == 200
    assert response.json()["series"] == []
