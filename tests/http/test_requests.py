"""Requests of any method and body, on both paths of `HttpClient.fetch_json`, against a real
loopback upstream that records what it received."""

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.http.aiohttp_transport import AiohttpTransport
from app.integrations.base import BaseApiProvider, Params
from tests.http.test_client import _settings
from tests.support.servers import Answer, ScriptedServer, Seen


@pytest.fixture(params=["direct", "httpx"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[HttpClient]:
    direct = create_http_client(_settings(http_read_timeout_s=1.0))
    if request.param == "direct":
        assert direct.has_direct_path
        async with direct:
            yield direct
        return
    await direct.aclose()
    async with HttpClient(
        transport=AiohttpTransport(), timeout=direct.timeout, event_hooks=direct.event_hooks
    ) as via_httpx:
        yield via_httpx


def _echo(seen: Seen) -> Answer:
    echoed = {"method": seen.method, "target": seen.target, "body": seen.body.decode()}
    return Answer(200, json.dumps(echoed).encode())


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_any_method_with_a_body(client: HttpClient, method: str) -> None:
    async with ScriptedServer(_echo) as upstream:
        answer = await client.fetch_json(
            f"{upstream.url}/things",
            method=method,
            params={"q": "a b"},
            headers={"Content-Type": "application/json"},
            content=b'{"name":"x"}',
            limit=4096,
        )
    assert answer == {"method": method, "target": "/things?q=a+b", "body": '{"name":"x"}'}
    seen = upstream.seen[0]
    assert seen.headers["content-length"] == "12"
    assert seen.headers["content-type"] == "application/json"


async def test_a_post_without_a_body_says_its_length_is_zero(client: HttpClient) -> None:
    async with ScriptedServer(_echo) as upstream:
        await client.fetch_json(f"{upstream.url}/x", method="POST", limit=4096)
    assert upstream.seen[0].headers["content-length"] == "0"


async def test_a_top_level_array_is_returned_as_is_by_the_client(client: HttpClient) -> None:
    async with ScriptedServer(lambda seen: Answer(200, b"[1,2]")) as upstream:
        assert await client.fetch_json(f"{upstream.url}/x", limit=4096) == [1, 2]


async def test_url_userinfo_becomes_basic_auth_and_leaves_the_url(client: HttpClient) -> None:
    async with ScriptedServer(_echo) as upstream:
        url = upstream.url.replace("http://", "http://al%40ice:p%3Ass-word@") + "/x"
        answer = await client.fetch_json(url, limit=4096)
    seen = upstream.seen[0]
    expected = base64.b64encode(b"al@ice:p:ss-word").decode()
    assert seen.headers["authorization"] == f"Basic {expected}"
    assert "word" not in answer["target"]
    assert "@" not in seen.headers["host"]


async def test_an_explicit_authorization_header_wins_over_userinfo(client: HttpClient) -> None:
    async with ScriptedServer(_echo) as upstream:
        url = upstream.url.replace("http://", "http://user:secret-pw@") + "/x"
        await client.fetch_json(url, headers={"Authorization": "Bearer abc"}, limit=4096)
    assert upstream.seen[0].headers["authorization"] == "Bearer abc"


class _Poster(BaseApiProvider):
    name = "poster"
    method = "POST"
    policy_overrides = {"retries": 2, "retry_non_idempotent": True, "retry_base_delay_ms": 0}
    url = ""

    def __init__(self, **policy: Any) -> None:
        super().__init__(_settings(provider_policies={"poster": policy} if policy else {}))

    @property
    def endpoint(self) -> str:
        return self.url

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.request_json(client, "POST", self.url, json={"n": params["n"]})


async def test_a_retried_post_sends_one_idempotency_key_on_every_attempt(
    client: HttpClient,
) -> None:
    answers = iter([Answer(503, b"{}"), Answer(503, b"{}"), Answer(200, b'{"ok": 1}')])
    async with ScriptedServer(lambda seen: next(answers)) as upstream:
        provider = _Poster()
        provider.url = f"{upstream.url}/orders"
        result = await provider.execute(client, {"n": 1}, request_id="r1")
        second = await provider.execute(client, {"n": 1}, request_id="r2")
    assert result.success and result.attempts == 3
    assert second.success is False  # the script ran out: a new call, not one more attempt
    keys = [seen.headers.get("idempotency-key") for seen in upstream.seen]
    assert keys[0] and keys[:3] == [keys[0]] * 3
    assert keys[3] and keys[3] != keys[0]
    assert [json.loads(seen.body) for seen in upstream.seen[:3]] == [{"n": 1}] * 3


async def test_a_post_is_not_retried_nor_keyed_unless_its_provider_opts_in(
    client: HttpClient,
) -> None:
    async with ScriptedServer(lambda seen: Answer(503, b"{}")) as upstream:
        provider = _Poster(retry_non_idempotent=False)
        provider.url = f"{upstream.url}/orders"
        result = await provider.execute(client, {"n": 1}, request_id="r1")
    assert result.error_kind is ErrorKind.HTTP_STATUS and result.attempts == 1
    assert "idempotency-key" not in upstream.seen[0].headers
