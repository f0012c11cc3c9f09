"""Request ids end to end: accepted or generated, returned, sent upstream, stored on every row."""

import pytest
from sqlalchemy import create_engine, select

from app.main import create_app
from app.models import ExternalApiLog
from app.observability.request_id import accept_request_id
from tests.conftest import api_client, make_settings
from tests.support.polling import wait_for
from tests.support.providers import demo_registry
from tests.support.servers import Answer, ScriptedServer


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("trace:1.2_3", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("has space", False),
        ("inject\nline", False),
        ("", False),
        (None, False),
    ],
)
def test_only_safe_ids_are_accepted(given: str | None, kept: bool) -> None:
    result = accept_request_id(given)
    assert (result == given) is kept
    assert 1 <= len(result) <= 64


async def test_id_is_returned_sent_upstream_and_stored(sqlite_url: str) -> None:
    async with ScriptedServer(lambda seen: Answer(200, b'{"ok": true}')) as captured:
        app = create_app(
            make_settings(sqlite_url, demo_upstream_url=captured.url), registry=demo_registry()
        )
        async for client in api_client(app):
            response = await client.get(
                "/integrations/fetch",
                params={"providers": "weather,geocoding"},
                headers={"X-Request-ID": "fanout-42"},
            )
            assert response.status_code == 200
            assert response.headers["x-request-id"] == "fanout-42"
            assert response.json()["request_id"] == "fanout-42"
            assert sorted(s.headers["x-request-id"] for s in captured.seen) == ["fanout-42"] * 2

            generated = await client.post(
                "/integrations/fetch", json={"providers": ["weather"]}, headers={}
            )
            new_id = generated.headers["x-request-id"]
            assert len(new_id) == 32
            assert generated.json()["request_id"] == new_id
            assert captured.seen[-1].headers["x-request-id"] == new_id

    engine = create_engine(sqlite_url)
    try:

        def stored() -> list[str | None]:
            with engine.connect() as conn:
                return list(conn.scalars(select(ExternalApiLog.request_id)))

        ids = wait_for(stored, lambda ids: len(ids) == 3)
        assert sorted(ids, key=str) == sorted(["fanout-42", "fanout-42", new_id], key=str)
    finally:
        engine.dispose()


async def test_every_response_carries_an_id(sqlite_url: str) -> None:
    app = create_app(
        make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9"), registry=demo_registry()
    )
    async for client in api_client(app):
        ok = await client.get("/healthz", headers={"x-request-id": "h-1"})
        assert ok.headers["x-request-id"] == "h-1"
        missing = await client.get("/no-such-page", headers={"x-request-id": "bad id"})
        assert missing.status_code == 404
        assert missing.headers["x-request-id"] != "bad id"
        assert len(missing.headers["x-request-id"]) == 32
        refused = await client.get("/integrations/fetch", params={"providers": "nope"})
        assert refused.status_code == 422
        assert "x-request-id" in refused.headers
