"""JSON log lines: one per request, one per provider call, each with the request id."""

import io
import logging
import sys
from collections.abc import Iterator

import orjson
import pytest

from app.core.logging import configure_logging
from app.main import create_app
from app.observability.logging import JsonFormatter
from app.observability.request_id import request_id_var
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.polling import wait_for
from tests.support.providers import demo_registry


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Capture what the service's JSON handler writes, with the root logger restored after."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])


def _parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


def test_formatter_adds_context_extras_and_exceptions() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %d", (3,), None)
    record.provider = "weather"
    token = request_id_var.set("rid-9")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record.exc_info = sys.exc_info()
        line = orjson.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "failed 3"
    assert line["level"] == "ERROR"
    assert line["request_id"] == "rid-9"
    assert line["provider"] == "weather"
    assert "ValueError: boom" in line["exc_info"]
    assert line["ts"].endswith("+00:00")


def test_configure_logging_sets_level_and_silences_httpx() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("warning")
        assert root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[1]:
            root.addHandler(handler)
        root.setLevel(saved[0])


async def test_one_line_per_request_and_per_call(
    sqlite_url: str, simulator: Simulator, json_lines: io.StringIO
) -> None:
    app = create_app(
        make_settings(sqlite_url, demo_upstream_url=simulator.url), registry=demo_registry()
    )
    async for client in api_client(app):
        response = await client.get(
            "/integrations/fetch?providers=weather,geocoding&api_key=hunter2",
            headers={"X-Request-ID": "lines-1"},
        )
        assert response.status_code == 200

    def mine() -> list[dict[str, object]]:
        return [line for line in _parsed(json_lines) if line.get("request_id") == "lines-1"]

    lines = wait_for(mine, lambda found: len(found) == 3)
    access = [line for line in lines if line["logger"] == "app.access"]
    calls = [line for line in lines if line["logger"] == "app.calls"]
    assert len(access) == 1
    assert access[0]["path"] == "/integrations/fetch"
    assert access[0]["status"] == 200
    assert access[0]["method"] == "GET"
    assert sorted(c["provider"] for c in calls) == ["geocoding", "weather"]  # type: ignore[type-var]
    assert all(c["success"] is True and c["level"] == "INFO" for c in calls)
    assert "hunter2" not in json_lines.getvalue()
