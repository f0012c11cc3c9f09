"""`GET /integrations/requests/{id}`: a real fan-out through the simulator, read back."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.main import create_app
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.polling import poll
from tests.support.providers import demo_registry


@pytest.fixture
async def client(database_url: str, simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        make_settings(database_url, demo_upstream_url=simulator.url), registry=demo_registry()
    )
    async for c in api_client(app):
        yield c


async def _poll_request(client: httpx.AsyncClient, request_id: str, total: int) -> httpx.Response:
    # Rows are written behind the response; poll with a bound.
    answers: list[httpx.Response] = []

    async def stored() -> bool:
        answers.append(await client.get(f"/integrations/requests/{request_id}"))
        return answers[-1].status_code == 200 and answers[-1].json()["total"] == total

    await poll(stored, what=f"fan-out {request_id} stored")
    return answers[-1]


async def test_one_fanout_with_all_its_rows(client: httpx.AsyncClient) -> None:
    fetched = await client.get(
        "/integrations/fetch",
        params={"providers": "weather,geocoding,time_zone", "city": "Busan"},
        headers={"X-Request-ID": "detail-1"},
    )
    assert fetched.status_code == 200
    await client.get("/integrations/fetch", params={"providers": "weather"})  # another fan-out

    body = (await _poll_request(client, "detail-1", 3)).json()
    assert body["request_id"] == "detail-1"
    assert body["succeeded"] == 3
    assert body["failed"] == 0
    assert sorted(c["provider"] for c in body["calls"]) == ["geocoding", "time_zone", "weather"]
    assert all(c["request_id"] == "detail-1" for c in body["calls"])
    weather = next(c for c in body["calls"] if c["provider"] == "weather")
    assert weather["data"] == next(
        r["data"] for r in fetched.json()["results"] if r["provider"] == "weather"
    )
    assert body["started_at"] == min(c["created_at"] for c in body["calls"])


async def test_unknown_request_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/requests/never-seen")
    assert response.status_code == 404
    assert "no calls stored for this request id" in response.json()["detail"]
    assert "never-seen" not in response.text  # errors never repeat what the client sent
