"""`RouterServer`, the live mode's upstream: answers cross the wire as the router wrote them,
and a request the router cannot answer fails the test instead of passing as an upstream error.
"""

import gzip

import httpx
import orjson
import pytest
import respx
from respx.models import AllMockedAssertionError

from app.core.config import Settings
from app.core.errors import UpstreamStatusError
from app.http import create_http_client

from .router_server import RouterServer


async def test_the_router_answer_reaches_the_production_client_as_written() -> None:
    router = respx.MockRouter(assert_all_called=False)
    zipped = gzip.compress(orjson.dumps({"zipped": True}))
    route = router.get(path="/a").respond(
        200,
        content=zipped,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    router.get(path="/busy").respond(503, headers={"Retry-After": "7"}, json={})
    async with (
        RouterServer(router) as server,
        create_http_client(Settings(_env_file=None)) as client,
    ):
        assert client.has_direct_path
        data = await client.fetch_json(f"{server.url}/a", params={"q": "a b&c"}, limit=1000)
        with pytest.raises(UpstreamStatusError) as busy:
            await client.fetch_json(f"{server.url}/busy", limit=1000)

    assert data == {"zipped": True}  # the gzipped bytes were sent, and decoded by the client
    assert route.calls.last.request.url.params["q"] == "a b&c"
    assert busy.value.status_code == 503
    assert busy.value.retry_after == "7"


async def test_a_request_the_router_cannot_answer_fails_on_exit() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.get(path="/known").respond(200, json={})
    async with create_http_client(Settings(_env_file=None)) as client:
        server = await RouterServer(router).__aenter__()
        with pytest.raises(httpx.TransportError):  # dropped unanswered
            await client.fetch_json(f"{server.url}/unknown", limit=1000)
        with pytest.raises(AllMockedAssertionError):
            await server.__aexit__(None, None, None)
