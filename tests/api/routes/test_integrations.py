"""`/integrations` through the ASGI app, against the real simulator on a local port."""

import asyncio

import httpx
import pytest
from sqlalchemy import create_engine, select

from app.main import create_app
from app.models import ExternalApiLog
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.polling import wait_for
from tests.support.providers import demo_registry


async def test_get_fans_out_to_every_provider(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/fetch", params={"city": "Busan"})
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["total"] == 20
    assert body["summary"]["succeeded"] == 20
    assert len(body["request_id"]) >= 16
    weather = next(r for r in body["results"] if r["provider"] == "weather")
    assert weather["data"]["city"] == "Busan"  # query params reach the providers
    assert weather["status_code"] == 200
    assert weather["attempts"] == 1
    assert "started_at" not in weather


@pytest.mark.parametrize(
    "query",
    [
        (("providers", "weather,geocoding"),),
        (("providers", "weather"), ("providers", "geocoding")),
        (("providers", " weather , geocoding,weather"),),
    ],
)
async def test_subset_by_commas_or_repeats(
    client: httpx.AsyncClient, query: tuple[tuple[str, str], ...]
) -> None:
    response = await client.get("/integrations/fetch", params=query)
    assert [r["provider"] for r in response.json()["results"]] == ["weather", "geocoding"]


async def test_post_with_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/integrations/fetch",
        json={"providers": ["time_zone", "weather"], "params": {"city": "Jeju"}, "timeout_ms": 900},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["provider"] for r in results] == ["time_zone", "weather"]
    assert results[1]["data"]["city"] == "Jeju"


async def test_unknown_provider_is_422_listing_valid_names(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/fetch", params={"providers": "weather,nope"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "providers"]
    assert "nope" not in response.text  # never echoed: the position says which name
    assert "(position 2)" in detail["msg"]
    assert "weather" in detail["msg"] and "geocoding" in detail["msg"]

    response = await client.post("/integrations/fetch", json={"providers": ["nope"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "providers"]


@pytest.mark.parametrize(
    ("method", "kwargs", "loc"),
    [
        ("GET", {"params": {"timeout_ms": "soon"}}, ["query", "timeout_ms"]),
        ("GET", {"params": {"timeout_ms": "0"}}, ["query", "timeout_ms"]),
        ("POST", {"content": b"{not json", "headers": {"content-type": "application/json"}}, None),
        ("POST", {"json": {"providers": "weather"}}, ["body", "providers"]),
        ("POST", {"json": {"params": {"a": {"nested": 1}}}}, None),
        ("POST", {"json": {"unexpected": 1}}, ["body", "unexpected"]),
        ("POST", {"json": {"timeout_ms": 10**9}}, ["body", "timeout_ms"]),
    ],
)
async def test_malformed_input_is_422_saying_where(
    client: httpx.AsyncClient, method: str, kwargs: dict[str, object], loc: list[str] | None
) -> None:
    response = await client.request(method, "/integrations/fetch", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail and all(d["msg"] for d in detail)
    if loc is not None:
        assert detail[0]["loc"] == loc


async def test_every_call_becomes_one_row(client: httpx.AsyncClient, sqlite_url: str) -> None:
    body = (
        await client.get("/integrations/fetch", params={"providers": "weather,vat_rates"})
    ).json()
    engine = create_engine(sqlite_url)

    def stored() -> list[tuple[str, str | None]]:
        with engine.connect() as conn:
            rows = conn.execute(select(ExternalApiLog.provider, ExternalApiLog.request_id))
            return [(provider, request_id) for provider, request_id in rows]

    try:  # the write-behind thread stores the rows after the response
        logged = await asyncio.to_thread(wait_for, stored, lambda rows: len(rows) == 2, 10.0)
    finally:
        engine.dispose()
    assert sorted(logged) == [("vat_rates", body["request_id"]), ("weather", body["request_id"])]


async def test_providers_listing(client: httpx.AsyncClient, simulator: Simulator) -> None:
    providers = (await client.get("/integrations/providers")).json()
    assert len(providers) == 20
    weather = next(p for p in providers if p["name"] == "weather")
    assert weather["endpoint"] == f"{simulator.url}/weather/current"
    assert weather["description"]
    assert "city" in weather["params"]
    assert weather["response_schema"]["type"] == "object"


async def test_openapi_lists_provider_names_as_an_enum(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    params = schema["paths"]["/integrations/fetch"]["get"]["parameters"]
    providers = next(p for p in params if p["name"] == "providers")
    assert "weather" in providers["schema"]["items"]["enum"]
    assert len(providers["schema"]["items"]["enum"]) == 20
    body = schema["components"]["schemas"]["FetchRequest"]["properties"]["providers"]
    assert body["anyOf"][0]["items"]["enum"] == providers["schema"]["items"]["enum"]
    assert "FetchResponse" in schema["components"]["schemas"]


async def test_every_provider_down_is_still_a_well_formed_200(sqlite_url: str) -> None:
    async with Simulator(latency_scale=0, error_rate=1.0, drift_rate=0) as sim:
        app = create_app(
            make_settings(sqlite_url, demo_upstream_url=sim.url), registry=demo_registry()
        )
        async for c in api_client(app):
            response = await c.get("/integrations/fetch")
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["failed"] == body["summary"]["total"] == 20
    assert {r["error_kind"] for r in body["results"]} == {"http_status"}


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize("value", ["", "weather,", ",weather", "weather,,geocoding"])
async def test_an_empty_provider_name_is_422(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/integrations/fetch", params={"providers": value})
    assert response.status_code == 422
    assert "empty provider name" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"providers": [""]}, ["body", "providers"]),
        ({"providers": ["weather", " "]}, ["body", "providers"]),
        ({"providers": ["weather"], "required": [""]}, ["body", "required"]),
    ],
)
async def test_an_empty_name_in_the_body_is_422_too(
    client: httpx.AsyncClient, body: dict[str, object], loc: list[str]
) -> None:
    response = await client.post("/integrations/fetch", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert (detail["type"], detail["loc"]) == ("empty_provider_name", loc)


@pytest.mark.parametrize(
    "body",
    [{"min_success": True}, {"timeout_ms": "500"}, {"timeout_ms": 1.5}, {"min_success": "1"}],
)
async def test_body_values_of_the_wrong_json_type_are_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/integrations/fetch", json=body)
    assert response.status_code == 422


async def test_an_integral_float_is_a_json_integer(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/integrations/fetch", json={"providers": ["weather"], "timeout_ms": 900.0}
    )
    assert response.status_code == 200
