"""Client params never change an upstream's scheme, host, port or path; redirects are not
followed. A canary listener on loopback must see zero connections."""

import asyncio
from collections.abc import AsyncIterator
from functools import cache
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.http import create_http_client
from app.integrations.providers._demo import DemoProvider
from tests.conftest import make_settings
from tests.security.helpers import LOOPBACK, app_factory, serve
from tests.support.providers import DEMO_PROVIDERS
from tests.support.servers import Answer, Canary, ScriptedServer, Seen


def _attacks(port: int) -> list[str]:
    return [
        f"127.0.0.1:{port}",
        f"http://127.0.0.1:{port}/",
        f"[::1]:{port}",
        f"http://[::1]:{port}/x",
        "0x7f000001",
        f"http://0x7f000001:{port}/",
        "2130706433",
        f"user@127.0.0.1:{port}",
        f"http://user:pw@127.0.0.1:{port}/",
        f"x@[::1]:{port}",
        f"//127.0.0.1:{port}/",
        f"..%2F..%2F127.0.0.1:{port}",
        "%2e%2e%2f%2e%2e%2f",
        "../../../../",
        "..\\..\\",
        f"/..;/..;/127.0.0.1:{port}",
        f"a#@127.0.0.1:{port}",
        f"a?x=1&@127.0.0.1:{port}",
        f"a\r\nHost: 127.0.0.1:{port}",
        f"%0d%0aHost:%20127.0.0.1:{port}",
    ]


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with Canary() as listener:
        yield listener


@cache
def _demo_providers() -> list[DemoProvider]:
    base = make_settings("sqlite://", demo_upstream_url="http://upstream.test:8080")
    return [cls(base) for cls in DEMO_PROVIDERS]


@cache
def _param_names() -> list[str]:
    return sorted({name for p in _demo_providers() for name in p.query})


async def test_params_never_reach_another_host(sqlite_url: str, canary: Canary) -> None:
    names = _param_names()
    async with ScriptedServer(lambda seen: Answer(200, b"{}")) as upstream:
        host = urlsplit(upstream.url).netloc
        app = app_factory(sqlite_url, upstream.url)(max_params=len(names) + 1)
        async with serve(app, LOOPBACK) as http:
            for attack in _attacks(canary.port):
                params = dict.fromkeys(names, attack)
                got = await http.get("/integrations/fetch", params=params)
                assert got.status_code == 200
                posted = await http.post("/integrations/fetch", json={"params": params})
                assert posted.status_code == 200
                # The target is passed nowhere else: no param can name a URL.
                raw = await http.get("/integrations/fetch", params={"url": attack, **params})
                assert raw.status_code == 200
    assert canary.hits == 0
    expected_paths = {f"/{p.name}/{p.path}" for p in _demo_providers()}
    assert len(upstream.seen) == 3 * 20 * len(_attacks(canary.port))
    for seen in upstream.seen:
        assert urlsplit(seen.target).path in expected_paths, seen.target
        assert seen.headers["host"] == host
        assert "\r" not in seen.target and "\n" not in seen.target


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_to_the_canary_are_not_followed(
    sqlite_url: str, canary: Canary, status: int
) -> None:
    locations = [
        f"http://127.0.0.1:{canary.port}/steal",
        f"//127.0.0.1:{canary.port}/steal",
        f"http://[::1]:{canary.port}/steal",
        f"http://0x7f000001:{canary.port}/",
    ]
    served: list[Seen] = []

    def redirect(seen: Seen) -> Answer:
        served.append(seen)
        location = locations[len(served) % len(locations)]
        return Answer(status, b"", {"location": location})

    async with ScriptedServer(redirect) as upstream:
        app = app_factory(sqlite_url, upstream.url)()
        async with serve(app, LOOPBACK) as http:
            for _ in locations:
                response = await http.get("/integrations/fetch")
                results = response.json()["results"]
                assert {r["error_kind"] for r in results} == {"http_status"}
                assert {r["status_code"] for r in results} == {status}
    assert canary.hits == 0
    assert len(served) == 20 * len(locations)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(min_size=0, max_size=60))
def test_any_param_value_keeps_scheme_host_port_and_path(value: str) -> None:
    """Whatever text a client sends, the built URL differs only in its query string."""
    seen: list[httpx.URL] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={})

    providers = _demo_providers()

    async def run() -> None:
        client = create_http_client(providers[0].settings, httpx.MockTransport(record))
        async with client:
            params = dict.fromkeys(_param_names(), value)
            for provider in providers:
                await provider.execute(client, params, request_id="r")

    asyncio.run(run())
    assert len(seen) == len(providers)
    for url, provider in zip(seen, providers, strict=True):
        expected = httpx.URL(provider.endpoint)
        assert (url.scheme, url.host, url.port) == ("http", "upstream.test", 8080)
        assert url.path == expected.path
        assert url.userinfo == b""
