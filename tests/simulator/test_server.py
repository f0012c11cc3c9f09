"""The bundled simulator, exercised over real sockets."""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from app.integrations.providers._demo import DemoProvider
from app.simulator import Simulator
from app.simulator.catalog import CATALOG, DRIFTING
from tests.support.providers import DEMO_PROVIDERS

DEMO: dict[str, type[DemoProvider]] = {cls.name: cls for cls in DEMO_PROVIDERS}


def _model(name: str) -> type[BaseModel]:
    model = DEMO[name].response_model
    assert model is not None
    return model


def _url(name: str) -> str:
    cls = DEMO[name]
    return f"/{name}/{cls.path}"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(latency_scale=0, error_rate=0, drift_rate=0, seed=7) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        yield c


def test_catalog_covers_every_demo_provider() -> None:
    assert set(CATALOG) == set(DEMO)
    assert {"stock_quotes"} == DRIFTING


@pytest.mark.parametrize("name", sorted(DEMO))
async def test_payload_matches_the_provider_model(client: httpx.AsyncClient, name: str) -> None:
    query = dict(DEMO[name].query)
    for _ in range(5):
        response = await client.get(_url(name), params=query)

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        _model(name).model_validate(response.json())


async def test_query_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/weather/current", params={"city": "Busan"})

    assert response.json()["city"] == "Busan"


async def test_error_rate_one_fails_everything() -> None:
    async with (
        Simulator(latency_scale=0, error_rate=1, seed=1) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        for name in DEMO:
            response = await client.get(_url(name))
            assert response.status_code == 503, name
            assert response.json()["error"] == "unavailable"


@pytest.mark.parametrize(("drift_rate", "drifts"), [(1.0, True), (0.0, False)])
async def test_drift_rate_controls_schema_drift(drift_rate: float, drifts: bool) -> None:
    async with (
        Simulator(latency_scale=0, error_rate=0, drift_rate=drift_rate, seed=3) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        for _ in range(20):
            response = await client.get(_url("stock_quotes"))
            assert response.status_code == 200
            if drifts:
                with pytest.raises(ValidationError) as info:
                    _model("stock_quotes").model_validate(response.json())
                failed = {err["loc"][-1] for err in info.value.errors()}
                assert {"price", "currency"} <= failed
            else:
                _model("stock_quotes").model_validate(response.json())


async def test_only_the_drifting_api_drifts() -> None:
    async with (
        Simulator(latency_scale=0, error_rate=0, drift_rate=1, seed=3) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        for name in set(DEMO) - DRIFTING:
            _model(name).model_validate((await client.get(_url(name))).json())


async def test_latency_is_applied() -> None:
    async with (
        Simulator(latency_scale=1, error_rate=0, seed=1) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        started = asyncio.get_running_loop().time()
        response = await client.get("/time_zone/lookup")
        elapsed = asyncio.get_running_loop().time() - started

    assert response.status_code == 200
    assert elapsed >= CATALOG["time_zone"].latency_ms * 0.6 / 1000


async def test_unknown_api_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no_such_api/anything")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_non_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/weather/current", content=b"ignored body")

    assert response.status_code == 405


async def test_keep_alive_reuses_connections(sim: Simulator, client: httpx.AsyncClient) -> None:
    for _ in range(50):
        assert (await client.get("/vat_rates/rates")).status_code == 200

    assert sim.connections_total <= 2


async def _raw_exchange(sim: Simulator, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=5)  # server closes: read to EOF
    finally:
        writer.close()
        await writer.wait_closed()


async def test_malformed_request_line_is_400_and_closes(sim: Simulator) -> None:
    answer = await _raw_exchange(sim, b"THIS IS NOT HTTP\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer


async def test_connection_close_is_honoured(sim: Simulator) -> None:
    answer = await _raw_exchange(
        sim, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'{"status":"ok"}')


async def test_pipelined_requests_with_bodies_are_answered_in_order(sim: Simulator) -> None:
    data = (
        b"GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /nope/x HTTP/1.1\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    answer = await _raw_exchange(sim, data)

    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert statuses == [b"200", b"404", b"200"]


async def test_close_drops_in_flight_requests() -> None:
    # A latency of minutes: only the shutdown can end this request.
    sim = Simulator(latency_scale=1000, error_rate=0, seed=1)
    await sim.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        writer.write(b"GET /translation/translate HTTP/1.1\r\n\r\n")
        await writer.drain()

        await asyncio.wait_for(sim.close(), timeout=5)

        try:
            answer = await asyncio.wait_for(reader.read(), timeout=5)
        except ConnectionResetError:  # a busy connection is reset, not answered
            answer = b""
        assert answer == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
