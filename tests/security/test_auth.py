"""Who may call: keys by header or bearer, provider scopes, the loopback demo, production."""

import pytest

from app.main import create_app
from app.security.setup import SecurityConfigError
from app.simulator import Simulator
from tests.conftest import make_settings
from tests.security.helpers import LOOPBACK, REMOTE, app_factory, new_key, serve
from tests.support.providers import demo_registry
from tests.support.servers import Answer, ScriptedServer


async def test_no_keys_lets_loopback_in_and_refuses_everyone_else(
    sqlite_url: str, simulator: Simulator
) -> None:
    app = app_factory(sqlite_url, simulator.url)()
    async with serve(app, LOOPBACK) as local:
        response = await local.get("/integrations/fetch", params={"providers": "weather"})
        assert response.status_code == 200
        assert response.json()["results"][0]["success"] is True
    app = app_factory(sqlite_url, simulator.url)()
    async with serve(app, REMOTE) as remote:
        response = await remote.get("/integrations/providers")
        assert response.status_code == 401
        assert "API_KEYS" in response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("client", [LOOPBACK, ("::ffff:127.0.0.1", 1), ("::1", 1)])
async def test_loopback_forms_count_as_local(
    sqlite_url: str, simulator: Simulator, client: tuple[str, int]
) -> None:
    async with serve(app_factory(sqlite_url, simulator.url)(), client) as http:
        assert (await http.get("/integrations/providers")).status_code == 200


async def test_keys_by_header_or_bearer_and_401_otherwise(
    sqlite_url: str, simulator: Simulator
) -> None:
    key, entry = new_key("dashboard")
    app = app_factory(sqlite_url, simulator.url)(api_keys=[entry])
    # With keys configured even loopback needs one: a local proxy makes everyone loopback.
    async with serve(app, LOOPBACK) as http:
        assert (await http.get("/integrations/providers")).status_code == 401
        wrong = await http.get("/integrations/providers", headers={"X-API-Key": key + "x"})
        assert wrong.status_code == 401
        assert key not in wrong.text
        by_header = await http.get("/integrations/providers", headers={"X-API-Key": key})
        assert by_header.status_code == 200
        assert len(by_header.json()) == 20
        bearer = {"Authorization": f"Bearer {key}"}
        by_bearer = await http.get("/integrations/fetch?providers=weather", headers=bearer)
        assert by_bearer.status_code == 200
        basic = await http.get("/integrations/providers", headers={"Authorization": f"Basic {key}"})
        assert basic.status_code == 401


async def test_health_and_docs_stay_open(sqlite_url: str, simulator: Simulator) -> None:
    _, entry = new_key("only")
    app = app_factory(sqlite_url, simulator.url)(api_keys=[entry])
    async with serve(app, REMOTE) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/docs")).status_code == 200
        schema = (await http.get("/openapi.json")).json()
        assert (await http.get("/metrics")).status_code == 401
    schemes = schema["components"]["securitySchemes"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(schemes)
    fetch = schema["paths"]["/integrations/fetch"]["get"]
    assert {"401", "403", "429"} <= set(fetch["responses"])
    assert "security" in fetch and "security" not in schema["paths"]["/healthz"]["get"]


async def test_scoped_key_gets_403_before_any_upstream_call(sqlite_url: str) -> None:
    key, entry = new_key("weather-only", ["weather", "geocoding"])
    async with ScriptedServer(lambda seen: Answer(200, b"{}")) as upstream:
        app = app_factory(sqlite_url, upstream.url)(api_keys=[entry])
        headers = {"X-API-Key": key}
        async with serve(app) as http:
            for response in (
                await http.get(
                    "/integrations/fetch?providers=weather,stock_quotes", headers=headers
                ),
                await http.post(
                    "/integrations/fetch", json={"providers": ["nope"]}, headers=headers
                ),
                await http.get("/integrations/fetch?providers=weather"),  # no key: 401
                await http.get("/integrations/fetch", headers={"X-API-Key": "fo_guess"}),
            ):
                assert response.status_code in (401, 403), response.text
            refused = await http.get(
                "/integrations/fetch?providers=weather,stock_quotes", headers=headers
            )
            assert refused.status_code == 403
            assert "at position 2 of the request's providers" in refused.json()["detail"]
            assert "stock_quotes" not in refused.text  # never repeats what the client sent
            assert "geocoding, weather" in refused.json()["detail"]
            assert upstream.seen == []

            # "All" means all this key may call; the listing shows only those too.
            every = await http.get("/integrations/fetch", headers=headers)
            assert [r["provider"] for r in every.json()["results"]] == ["geocoding", "weather"]
            listing = await http.get("/integrations/providers", headers=headers)
            assert [p["name"] for p in listing.json()] == ["geocoding", "weather"]
            assert len(upstream.seen) == 2


async def test_a_key_scoped_to_nothing_calls_nothing(sqlite_url: str) -> None:
    key, entry = new_key("none", [])
    async with ScriptedServer(lambda seen: Answer()) as upstream:
        app = app_factory(sqlite_url, upstream.url)(api_keys=[entry])
        async with serve(app) as http:
            response = await http.get("/integrations/fetch", headers={"X-API-Key": key})
        assert response.status_code == 403
        assert upstream.seen == []


def test_production_without_keys_refuses_to_start(sqlite_url: str) -> None:
    with pytest.raises(SecurityConfigError, match="ENVIRONMENT=production needs client keys"):
        create_app(make_settings(sqlite_url, environment="production"), registry=demo_registry())
    _, entry = new_key("prod")
    assert create_app(
        make_settings(sqlite_url, environment="production", api_keys=[entry]),
        registry=demo_registry(),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_keys": [new_key("a", ["weathr"])[1]]}, "unknown provider"),
        ({"api_keys": [new_key("a")[1], new_key("a")[1]]}, "names 'a' twice"),
        ({"demo_api_key": "short"}, "DEMO_API_KEY is shorter"),
    ],
)
def test_bad_security_settings_stop_start_up(
    sqlite_url: str, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SecurityConfigError, match=message):
        create_app(make_settings(sqlite_url, **overrides), registry=demo_registry())


async def test_demo_providers_send_the_configured_credential(sqlite_url: str) -> None:
    async with ScriptedServer(lambda seen: Answer()) as upstream:
        app = app_factory(sqlite_url, upstream.url)(demo_api_key="demo-key-0123456789")
        async with serve(app, LOOPBACK) as http:
            response = await http.get("/integrations/fetch?providers=weather&city=Seoul")
        assert response.status_code == 200
    assert upstream.seen[0].headers["x-api-key"] == "demo-key-0123456789"
    assert "demo-key" not in upstream.seen[0].target


async def test_unused_key_hashes_never_show(sqlite_url: str, simulator: Simulator) -> None:
    key, entry = new_key("k")
    async with serve(app_factory(sqlite_url, simulator.url)(api_keys=[entry])) as http:
        for path in ("/openapi.json", "/integrations/providers"):
            response = await http.get(path, headers={"X-API-Key": key})
            assert entry["sha256"] not in response.text
            assert key not in response.text


async def test_bearer_and_header_use_one_bucket(sqlite_url: str, simulator: Simulator) -> None:
    key, entry = new_key("k")
    app = app_factory(sqlite_url, simulator.url)(
        api_keys=[entry], rate_limit_per_s=0.001, rate_limit_burst=1
    )
    async with serve(app) as http:
        first = await http.get("/integrations/providers", headers={"X-API-Key": key})
        second = await http.get(
            "/integrations/providers", headers={"Authorization": f"Bearer {key}"}
        )
    assert (first.status_code, second.status_code) == (200, 429)
