"""Traces of a fan-out: the span tree, W3C context to real upstreams, the trace id on rows.

Spans are kept by an in-memory exporter (`tests/support/tracing.py`); the upstream is a real
loopback server that records the `traceparent` it receives.
"""

import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, select

from app.core import tracing
from app.core.config import Settings
from app.integrations.base import BaseApiProvider, Params
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from app.models import ExternalApiLog
from tests.conftest import make_settings
from tests.security.helpers import LOOPBACK, serve
from tests.support.polling import poll
from tests.support.servers import Answer, ScriptedServer, Seen
from tests.support.tracing import recording_spans

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _sampled(match: re.Match[str]) -> bool:
    return bool(int(match.group(3), 16) & 1)


INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"


class _Provider(BaseApiProvider):
    path: ClassVar[str]

    @property
    def endpoint(self) -> str:
        return str(self.settings.demo_upstream_url).rstrip("/") + self.path

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        return await self.get_json(client, self.endpoint, params={"city": params["city"]})  # type: ignore[arg-type]


class Flaky(_Provider):
    """503 on its first call, then 200: one retry."""

    name = "flaky"
    path = "/flaky"


class Broken(_Provider):
    """Always 500, and never retried: a failure in one attempt."""

    name = "broken"
    path = "/broken"
    policy_overrides: ClassVar[dict[str, Any]] = {"retries": 0}


class ViaHttpx(_Provider):
    """Calls httpx's own API (`client.get`), the path the call-tracking hooks serve."""

    name = "via_httpx"
    path = "/httpx"

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        response = await client.get(self.endpoint, params={"city": params["city"]})
        return self.parse_json_object(response)


def _script(seen: Seen) -> Answer:
    path = seen.target.split("?")[0]
    if path == "/broken":
        return Answer(500)
    if path == "/flaky" and sum(s.target.startswith("/flaky") for s in _SEEN) == 1:
        return Answer(503)
    return Answer(200, b'{"ok": 1}')


_SEEN: list[Seen] = []


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(_script) as server:
        _SEEN.clear()
        server.seen = _SEEN
        yield server


def _settings(database_url: str, upstream: ScriptedServer, **overrides: object) -> Settings:
    return make_settings(
        database_url,
        demo_upstream_url=upstream.url,
        policy_retry_base_delay_ms=1,
        policy_retry_max_delay_ms=5,
        **overrides,
    )


def _rows(database_url: str) -> list[ExternalApiLog]:
    engine = create_engine(Settings(database_url=database_url, _env_file=None).database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(ExternalApiLog)).all())  # type: ignore[arg-type]
    finally:
        engine.dispose()


async def _fetch(app_settings: Settings, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    registry = ProviderRegistry([Flaky, Broken, ViaHttpx])
    app = create_app(app_settings, registry=registry)
    async with serve(app, LOOPBACK) as http:
        response = await http.post(
            "/integrations/fetch", json={"params": {"city": "Seoul"}}, headers=headers
        )
        assert response.status_code == 200, response.text

        async def stored() -> bool:
            return len(_rows(app_settings.database_url)) == 3

        await poll(stored)
    return response.json(), app_settings.database_url


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    kids = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(kids, key=lambda s: s.start_time or 0)


async def test_span_tree_of_a_fan_out_with_a_retry_and_a_failure(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    incoming = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"
    with recording_spans() as exported:
        body, _ = await _fetch(_settings(sqlite_url, upstream), {"traceparent": incoming})
        spans = [s for s in exported.get_finished_spans() if s.name != "call-log batch"]

    server = _one(spans, "POST /integrations/fetch")
    assert server.kind is SpanKind.SERVER
    # It continues the caller's trace, as a child of the caller's span.
    assert f"{server.context.trace_id:032x}" == INCOMING_TRACE
    assert server.parent is not None and f"{server.parent.span_id:016x}" == INCOMING_PARENT
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/integrations/fetch"
    assert server.attributes["http.response.status_code"] == 200
    assert {s.context.trace_id for s in spans} == {server.context.trace_id}

    fan_out = _one(spans, "fan-out")
    assert fan_out.parent is not None and fan_out.parent.span_id == server.context.span_id
    assert fan_out.attributes is not None
    assert (fan_out.attributes["fanout.providers"], fan_out.attributes["fanout.failed"]) == (3, 1)
    calls = {s.name: s for s in _children(spans, fan_out)}
    assert set(calls) == {"provider flaky", "provider broken", "provider via_httpx"}

    flaky = calls["provider flaky"]
    assert flaky.attributes is not None
    assert flaky.attributes["fanout.outcome"] == "success"
    assert flaky.attributes["fanout.attempts"] == 2
    assert flaky.status.status_code is StatusCode.UNSET
    first, second = _children(spans, flaky)
    assert first.kind is second.kind is SpanKind.CLIENT
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "http_status"
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 200
    assert "error.type" not in second.attributes
    # The address, with the query's names but never their values.
    assert second.attributes["url.full"] == f"{upstream.url}/flaky?city=[REDACTED]"

    broken = calls["provider broken"]
    assert broken.attributes is not None
    assert broken.attributes["fanout.outcome"] == "failure"
    assert broken.attributes["fanout.error_kind"] == "http_status"
    assert broken.attributes["fanout.attempts"] == 1
    assert broken.attributes["fanout.breaker_state"] == "closed"
    assert broken.status.status_code is StatusCode.ERROR
    (attempt,) = _children(spans, broken)
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 500

    assert all("Seoul" not in repr(dict(s.attributes or {})) for s in spans)
    assert body["trace_id"] == INCOMING_TRACE


async def test_every_upstream_sees_its_attempts_span_as_parent_on_both_paths(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    with recording_spans() as exported:
        body, database_url = await _fetch(_settings(sqlite_url, upstream), {})
        spans = list(exported.get_finished_spans())

    trace_id = body["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    attempts = {
        f"{s.context.span_id:016x}": s for s in spans if s.kind is SpanKind.CLIENT and s.parent
    }
    assert len(upstream.seen) == len(attempts) == 4  # flaky twice, broken, via_httpx
    paths = set()
    for seen in upstream.seen:
        match = TRACEPARENT.fullmatch(seen.headers["traceparent"])
        assert match, seen.headers["traceparent"]
        assert match.group(1) == trace_id
        assert _sampled(match)
        span = attempts[match.group(2)]  # the parent the upstream was told is our attempt
        assert span.attributes is not None
        path = str(span.attributes["url.full"]).split("?")[0].removeprefix(upstream.url)
        assert seen.target.startswith(path)
        paths.add(seen.target.split("?")[0])
    assert paths == {"/flaky", "/broken", "/httpx"}
    assert "baggage" not in {name for seen in upstream.seen for name in seen.headers}

    # The row of every call carries the trace id the upstream saw and the response returned.
    rows = _rows(database_url)
    assert [row.trace_id for row in rows] == [trace_id] * 3


async def test_the_call_log_writer_batches_are_traces_of_their_own(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    with recording_spans() as exported:
        body, _ = await _fetch(_settings(sqlite_url, upstream), {})

        def batches() -> list[ReadableSpan]:
            return [s for s in exported.get_finished_spans() if s.name == "call-log batch"]

        async def flushed() -> bool:
            rows = [int((s.attributes or {}).get("calllog.rows", 0)) for s in batches()]  # type: ignore[arg-type]
            return sum(rows) >= 3

        await poll(flushed)
    for batch in batches():
        assert batch.parent is None
        assert f"{batch.context.trace_id:032x}" != body["trace_id"]
        assert batch.attributes is not None
        assert batch.attributes["calllog.outcome"] == "database"


async def test_tracing_off_sends_no_traceparent_and_stores_no_trace_id(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    assert tracing.tracer is None
    incoming = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"
    body, database_url = await _fetch(_settings(sqlite_url, upstream), {"traceparent": incoming})
    assert body["trace_id"] is None
    assert all("traceparent" not in seen.headers for seen in upstream.seen)
    assert [row.trace_id for row in _rows(database_url)] == [None] * 3


async def test_an_invalid_incoming_traceparent_starts_a_new_trace(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    with recording_spans() as exported:
        body, _ = await _fetch(
            _settings(sqlite_url, upstream), {"traceparent": "00-zz-not-a-trace-01"}
        )
        server = _one(list(exported.get_finished_spans()), "POST /integrations/fetch")
    assert server.parent is None
    assert body["trace_id"] == f"{server.context.trace_id:032x}"


async def test_an_unsampled_request_still_has_a_trace_id_sent_upstream(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    # The caller decided not to sample: the default sampler follows its parent.
    incoming = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-00"
    with recording_spans() as exported:
        settings = _settings(sqlite_url, upstream)
        body, database_url = await _fetch(settings, {"traceparent": incoming})
        recorded = [s for s in exported.get_finished_spans() if s.name != "call-log batch"]
    assert recorded == []
    assert body["trace_id"] == INCOMING_TRACE
    for seen in upstream.seen:
        match = TRACEPARENT.fullmatch(seen.headers["traceparent"])
        assert match and match.group(1) == INCOMING_TRACE and not _sampled(match)
    assert {row.trace_id for row in _rows(database_url)} == {INCOMING_TRACE}


async def test_an_incoming_tracestate_goes_upstream_on_both_paths(
    sqlite_url: str, upstream: ScriptedServer
) -> None:
    incoming = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"
    with recording_spans():
        body, _ = await _fetch(
            _settings(sqlite_url, upstream), {"traceparent": incoming, "tracestate": "vendor=v1"}
        )
    assert body["trace_id"] == INCOMING_TRACE
    paths = {seen.target.split("?")[0] for seen in upstream.seen}
    assert paths == {"/flaky", "/broken", "/httpx"}  # the direct path and httpx's
    assert [seen.headers["tracestate"] for seen in upstream.seen] == ["vendor=v1"] * 4
