"""Canary: secrets in a provider's header, query, cookie and body never come back out.

Providers send distinctive secrets (from `SecretStr` settings) to a real loopback upstream
that echoes everything it received, and fail in every way `ErrorKind` knows. Then every
response, every captured log line, every database row and every file the service wrote is
searched, and every span the request made: zero occurrences.
"""

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.integrations.base import BaseApiProvider, Params
from app.integrations.providers.weather import WeatherProvider
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from tests.security.helpers import LOOPBACK, serve
from tests.support.polling import poll
from tests.support.ports import free_port
from tests.support.servers import Answer, ScriptedServer, Seen
from tests.support.tracing import recording_spans, span_text

HEADER = "hdr-CANARY-7f3a9c1e5b"
QUERY = "qs-CANARY-52b8d4e0aa"
COOKIE = "ck-CANARY-a1c9e377cd"
BODY = "body-CANARY-0d6e2f91ef"
DEMO = "demo-CANARY-93ab51c7d2"
SECRETS = (HEADER, QUERY, COOKIE, BODY, DEMO)


class CanarySettings(Settings):
    canary_header: SecretStr
    canary_query: SecretStr
    canary_cookie: SecretStr
    canary_body: SecretStr
    canary_base: str = ""
    canary_refused_base: str = ""


class Ok(BaseModel):
    ok: int


class CanaryProvider(BaseApiProvider):
    """Sends all four secrets the way real APIs take credentials, to `{base}/{mode}`."""

    response_model = Ok
    mode: ClassVar[str]

    @property
    def endpoint(self) -> str:
        settings = self.settings
        assert isinstance(settings, CanarySettings)
        base = settings.canary_refused_base if self.mode == "refused" else settings.canary_base
        return f"{base}/{self.mode}"

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        s = self.settings
        assert isinstance(s, CanarySettings)
        response = await client.post(
            self.endpoint,
            params={"api_key": s.canary_query.get_secret_value(), "q": params.get("q", "")},
            headers={
                "Authorization": f"Bearer {s.canary_header.get_secret_value()}",
                "Cookie": f"session={s.canary_cookie.get_secret_value()}",
            },
            json={"password": s.canary_body.get_secret_value()},
        )
        if self.mode == "boom":
            # A careless provider that puts what it got into an exception.
            raise RuntimeError(f"cannot use {response.text} from {response.request.headers}")
        return self.parse_json_object(response)


def _canary(mode: str) -> type[CanaryProvider]:
    return type(f"Canary_{mode}", (CanaryProvider,), {"name": f"canary_{mode}", "mode": mode})


MODES = {
    "ok": None,
    "timeout": ErrorKind.TIMEOUT,
    "refused": ErrorKind.CONNECTION_ERROR,
    "status": ErrorKind.HTTP_STATUS,
    "invalid": ErrorKind.INVALID_JSON,
    "drift": ErrorKind.VALIDATION_ERROR,
    "boom": ErrorKind.PROVIDER_ERROR,
}


def _echo(seen: Seen) -> dict[str, Any]:
    return {
        "headers": seen.headers,
        "target": seen.target,
        "body": seen.body.decode(),
        "innocent": f"{seen.headers.get('authorization')} {seen.headers.get('x-api-key')}",
    }


def _script(seen: Seen) -> Answer | None:
    mode = seen.target.split("?")[0].strip("/").split("/")[0]
    echo = json.dumps(_echo(seen)).encode()
    if mode == "timeout":
        return None
    if mode == "status":
        return Answer(401, echo, {"www-authenticate": f"Bearer realm={QUERY}"})
    if mode == "invalid":
        return Answer(200, b"<html>" + echo, {"content-type": "text/html"})
    if mode == "ok":
        return Answer(200, json.dumps({"ok": 1, "echo": _echo(seen)}).encode())
    return Answer(200, echo)  # drift, boom, weather: JSON that does not match the model


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _written_files(root: Path) -> dict[Path, str]:
    """Every file under `root` (database, WAL, spool), as text whatever its encoding."""
    return {p: p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()}


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(_script) as server:
        yield server


def _settings(database_url: str, upstream: ScriptedServer, tmp_path: Path) -> Settings:
    return CanarySettings(
        _env_file=None,
        database_url=database_url,
        demo_upstream_url=upstream.url,
        demo_api_key=SecretStr(DEMO),
        canary_header=SecretStr(HEADER),
        canary_query=SecretStr(QUERY),
        canary_cookie=SecretStr(COOKIE),
        canary_body=SecretStr(BODY),
        canary_base=upstream.url,
        canary_refused_base=f"http://127.0.0.1:{free_port()}",
        http_read_timeout_s=0.3,
        log_flush_interval_ms=5,
        log_spool_dir=tmp_path / "spool",
    )


async def _fan_out(http: httpx.AsyncClient) -> list[httpx.Response]:
    return [
        await http.get("/integrations/fetch", params={"q": "x", "timeout_ms": 3000}),
        await http.post("/integrations/fetch", json={"params": {"q": "y"}, "timeout_ms": 3000}),
    ]


async def _read_back(http: httpx.AsyncClient, request_id: str) -> list[httpx.Response]:
    responses = []
    for path in ("/integrations/providers", "/integrations/logs", "/integrations/stats"):
        responses.append(await http.get(path))
    responses.append(await http.get(f"/integrations/requests/{request_id}"))
    responses.append(await http.get("/metrics"))
    responses.append(await http.get("/openapi.json"))
    return responses


def _all_rows(database_url: str) -> str:
    engine = create_engine(Settings(database_url=database_url, _env_file=None).database_url)
    try:
        with engine.connect() as conn:
            dumped: list[str] = []
            for table in inspect(conn).get_table_names():
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()  # noqa: S608
                dumped.extend(repr(tuple(row)) for row in rows)
            return "\n".join(dumped)
    finally:
        engine.dispose()


def _call_log_rows(database_url: str) -> int:
    from app.models import ExternalApiLog

    engine = create_engine(Settings(database_url=database_url, _env_file=None).database_url)
    try:
        with engine.connect() as conn:
            return len(conn.execute(select(ExternalApiLog.id)).all())
    finally:
        engine.dispose()


async def test_no_secret_in_any_response_log_line_or_row(
    database_url: str, upstream: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registry = ProviderRegistry([*(_canary(mode) for mode in MODES), WeatherProvider])
    settings = _settings(database_url, upstream, tmp_path)
    app = create_app(settings, registry=registry)
    expected_rows = 2 * (len(MODES) + 1)

    async def stored() -> bool:
        return _call_log_rows(database_url) >= expected_rows

    with recording_spans() as exported:
        async with serve(app, LOOPBACK) as http:
            responses = await _fan_out(http)
            await poll(stored, timeout_s=5.0)
            responses += await _read_back(http, responses[0].json()["request_id"])
        spans = exported.get_finished_spans()

    results = {r["provider"]: r for r in responses[0].json()["results"]}
    for mode, kind in MODES.items():
        assert results[f"canary_{mode}"]["error_kind"] == (kind.value if kind else None), mode
    assert results["weather"]["error_kind"] == "validation_error"
    assert results["canary_drift"]["data"]["headers"]["authorization"] == "[REDACTED]"

    # The secrets really went out, in each of the four places.
    sent = next(s for s in upstream.seen if s.target.startswith("/drift"))
    assert sent.headers["authorization"] == f"Bearer {HEADER}"
    assert f"api_key={QUERY}" in sent.target
    assert sent.headers["cookie"] == f"session={COOKIE}"
    assert BODY in sent.body.decode()
    assert any(s.headers.get("x-api-key") == DEMO for s in upstream.seen)

    for response in responses:
        assert response.status_code == 200, (response.url, response.status_code)
        assert not _leaks(response.text + repr(response.headers.raw)), response.url
    lines = [caplog.handler.format(record) for record in caplog.records]
    assert lines, "nothing was logged: the capture is not working"
    assert not _leaks("\n".join(lines))

    # Spans were made for every attempt, the URL with its query's names but not their values.
    urls = [str(s.attributes.get("url.full")) for s in spans if s.attributes and s.name == "GET"]
    assert any("/drift?api_key=" in url for url in urls), urls
    assert not _leaks(span_text(spans))

    assert not _leaks(_all_rows(database_url))
    written = _written_files(tmp_path)
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        assert any(path.suffix == ".db" for path in written)
    for path, content in written.items():
        assert not _leaks(content), path


async def test_call_log_failures_log_and_spool_no_secret(
    sqlite_url: str, upstream: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registry = ProviderRegistry([*(_canary(mode) for mode in MODES), WeatherProvider])
    app = create_app(_settings(sqlite_url, upstream, tmp_path), registry=registry)

    async def writer_complained() -> bool:
        return any(
            r.name.startswith("app.calllog") and r.levelno >= logging.ERROR for r in caplog.records
        )

    async with serve(app, LOOPBACK) as http:
        # Break the database under the running writer: its errors quote SQL and rows.
        engine = create_engine(sqlite_url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE external_api_logs"))
        engine.dispose()
        responses = await _fan_out(http)
        await poll(writer_complained, timeout_s=5.0)

    for response in responses:
        assert not _leaks(response.text)
    assert not _leaks("\n".join(caplog.handler.format(r) for r in caplog.records))
    for path, content in _written_files(tmp_path).items():
        assert not _leaks(content), path
