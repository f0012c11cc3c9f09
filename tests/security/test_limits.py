"""Limits with clear answers: 413 for big bodies, 422 naming the limit; and CORS."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.security.helpers import LOOPBACK, app_factory, serve
from tests.support.servers import Answer, ScriptedServer

LIMITS = {
    "max_body_bytes": 2048,
    "max_providers_per_request": 3,
    "max_params": 4,
    "max_param_length": 16,
}


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(lambda seen: Answer()) as server:
        yield server


@pytest.fixture
async def http(sqlite_url: str, upstream: ScriptedServer) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app_factory(sqlite_url, upstream.url)(**LIMITS), LOOPBACK) as client:
        yield client


async def test_body_over_the_limit_is_413_by_length_and_by_stream(
    http: httpx.AsyncClient, upstream: ScriptedServer
) -> None:
    big = {"providers": ["weather"], "params": {"city": "x" * 4000}}
    response = await http.post("/integrations/fetch", json=big)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"providers": ["weather"], "params": {"city": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}}'

    streamed = await http.post(
        "/integrations/fetch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "2048 bytes" in streamed.json()["detail"]
    assert upstream.seen == []
    ok = await http.post("/integrations/fetch", json={"providers": ["weather"]})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("method", "kwargs", "setting", "loc"),
    [
        (
            "GET",
            {"params": {"providers": "weather,geocoding,time_zone,vat_rates"}},
            "MAX_PROVIDERS_PER_REQUEST",
            ["query", "providers"],
        ),
        (
            "POST",
            {"json": {"providers": ["weather"] * 4}},
            "MAX_PROVIDERS_PER_REQUEST",
            ["body", "providers"],
        ),
        (
            "GET",
            {"params": [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")]},
            "MAX_PARAMS",
            ["query"],
        ),
        ("GET", {"params": [("city", "1")] * 5}, "MAX_PARAMS", ["query"]),
        ("POST", {"json": {"params": {k: 1 for k in "abcde"}}}, "MAX_PARAMS", ["body", "params"]),
        ("GET", {"params": {"city": "x" * 17}}, "MAX_PARAM_LENGTH", ["query", "city"]),
        ("GET", {"params": {"c" * 17: "x"}}, "MAX_PARAM_LENGTH", ["query"]),
        (
            "POST",
            {"json": {"params": {"city": "x" * 17}}},
            "MAX_PARAM_LENGTH",
            ["body", "params", "city"],
        ),
    ],
)
async def test_limits_are_422_naming_the_setting(
    http: httpx.AsyncClient,
    upstream: ScriptedServer,
    method: str,
    kwargs: dict[str, object],
    setting: str,
    loc: list[str],
) -> None:
    response = await http.request(method, "/integrations/fetch", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert setting in detail["msg"]
    assert detail["loc"] == loc
    assert "x" * 17 not in response.text  # the value is never echoed
    assert upstream.seen == []


async def test_at_the_limits_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/integrations/fetch",
        params=[
            ("providers", "weather,geocoding,time_zone"),
            ("city", "x" * 16),
            ("b", "1"),
            ("c", "1"),
            ("d", "1"),
        ],
    )
    assert response.status_code == 200
    assert response.json()["summary"]["total"] == 3


async def test_the_schema_states_the_limits(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    body = schema["components"]["schemas"]["FetchRequest"]["properties"]
    assert body["params"]["maxProperties"] == 4
    assert body["params"]["propertyNames"] == {"maxLength": 16}
    assert {"type": "string", "maxLength": 16} in body["params"]["additionalProperties"]["anyOf"]
    get = schema["paths"]["/integrations/fetch"]["get"]["parameters"]
    providers = next(p for p in get if p["name"] == "providers")
    assert providers["schema"]["maxItems"] == 3


async def test_cors_allows_only_listed_origins(sqlite_url: str, upstream: ScriptedServer) -> None:
    app = app_factory(sqlite_url, upstream.url)(cors_allow_origins="https://dash.example")
    async with serve(app, LOOPBACK) as http:
        preflight = await http.options(
            "/integrations/fetch",
            headers={
                "Origin": "https://dash.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
        assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
        other = await http.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        listed = await http.get("/healthz", headers={"Origin": "https://dash.example"})
        assert listed.headers["access-control-allow-origin"] == "https://dash.example"


async def test_no_cors_by_default(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"Origin": "https://dash.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = await http.options(
        "/integrations/fetch",
        headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/integrations/fetch", "GET, POST"),
        ("DELETE", "/integrations/requests/abc", "GET"),
        ("POST", "/healthz", "GET"),
    ],
)
async def test_wrong_method_is_405_listing_every_method_of_the_path(
    http: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
