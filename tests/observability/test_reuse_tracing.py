"""Traces of calls the response cache, coalescing and hedging handled.

Every caller's call has its provider span and its trace id, whether it was served from the
cache, shared another caller's call, or made it; every attempt, hedges included, has a span of
its own, which is the parent its request names upstream. Real local upstreams; spans kept in
memory (`tests/support/tracing.py`).
"""

import asyncio
import re
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from app.core import tracing
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from app.resilience.clock import SYSTEM_CLOCK
from app.resilience.deadline import Deadline
from tests.api.routes.test_reuse_api import CachedReading, _rows
from tests.conftest import api_client, make_settings
from tests.integrations.reuse_helpers import real_client, sensor
from tests.support.clock import FakeClock
from tests.support.polling import poll
from tests.support.servers import Answer, ScriptedServer, Seen
from tests.support.tracing import recording_spans
from tests.support.upstream import ScriptedUpstream

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
READING = Answer(200, b'{"value": 2}')


def _trace_id(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


class _HeldUntilArrived(FakeClock):
    """The hedge's wait starts once the first attempt reached the server (its order is fixed)."""

    def __init__(self, arrived: asyncio.Event) -> None:
        super().__init__()
        self.arrived = arrived

    async def sleep(self, seconds: float) -> None:
        await self.arrived.wait()
        await super().sleep(seconds)


async def test_each_hedged_attempt_has_its_own_span_named_upstream() -> None:
    arrived = asyncio.Event()

    def script(seen: Seen) -> Answer | None:
        if arrived.is_set():
            return READING
        arrived.set()
        return None  # the first attempt never gets an answer: the hedge wins

    clock = _HeldUntilArrived(arrived)
    async with ScriptedServer(script) as server, real_client() as client:
        provider, _ = sensor(server.url, clock=clock, hedge_after_ms=50)
        with recording_spans() as exported:
            deadline = Deadline.after(5000, clock)
            result = await provider.execute(client, {}, request_id="r", deadline=deadline)
            spans = list(exported.get_finished_spans())
    assert (result.success, result.attempts, result.won_attempt) == (True, 2, 2)
    (call,) = [s for s in spans if s.name == "provider sensor"]
    assert call.attributes is not None
    assert (call.attributes["fanout.attempts"], call.attributes["fanout.won_attempt"]) == (2, 2)
    assert result.trace_id == _trace_id(call)
    attempts = {f"{s.context.span_id:016x}": s for s in _children(spans, call)}
    assert len(attempts) == len(server.seen) == 2
    # Each request named its own attempt's span, though both ran at once.
    named = [TRACEPARENT.fullmatch(seen.headers["traceparent"]) for seen in server.seen]
    assert all(m is not None and m.group(1) == result.trace_id for m in named)
    loser, winner = (attempts[m.group(2)] for m in named if m is not None)
    assert loser.attributes is not None and winner.attributes is not None
    # What each span shows is what its own attempt saw: the loser got no answer at all.
    assert loser.attributes["error.type"] == "cancelled"
    assert "http.response.status_code" not in loser.attributes
    assert winner.attributes["http.response.status_code"] == 200
    assert "error.type" not in winner.attributes


async def test_a_coalesced_caller_has_its_own_span_and_trace_id() -> None:
    release = asyncio.Event()

    async def script(seen: Seen) -> Answer:
        await release.wait()
        return READING

    async with ScriptedServer(script) as server, real_client() as client:
        provider, _ = sensor(server.url, clock=SYSTEM_CLOCK)  # coalescing is on by default
        with recording_spans() as exported:
            tracer = tracing.tracer
            assert tracer is not None

            async def fan_out(name: str) -> Any:
                with tracer.start_as_current_span(name):
                    return await provider.execute(client, {"room": "a"}, request_id=name)

            first = asyncio.create_task(fan_out("first"))
            await poll(lambda: len(server.seen) == 1, what="the first call reached the upstream")
            second = asyncio.create_task(fan_out("second"))
            await poll(lambda: sum(provider.reuse._waiters.values()) == 2, what="joined")
            release.set()
            made, joined = await asyncio.gather(first, second)
            spans = list(exported.get_finished_spans())
    assert len(server.seen) == 1
    assert (made.coalesced, joined.coalesced) == (False, True)
    by_name = {s.name: s for s in spans if s.name in ("first", "second")}
    for result, request in ((made, by_name["first"]), (joined, by_name["second"])):
        (call,) = _children(spans, request)
        assert call.name == "provider sensor"
        assert call.attributes is not None
        assert call.attributes["fanout.coalesced"] is result.coalesced
        assert call.attributes["fanout.outcome"] == "success"
        assert result.trace_id == _trace_id(request)
    # The one upstream call is an attempt of the caller that made it.
    (attempt,) = _children(spans, _children(spans, by_name["first"])[0])
    assert _children(spans, _children(spans, by_name["second"])[0]) == []
    match = TRACEPARENT.fullmatch(server.seen[0].headers["traceparent"])
    assert match is not None and match.group(2) == f"{attempt.context.span_id:016x}"


async def test_a_cache_hit_has_its_span_and_its_row_the_trace_id(database_url: str) -> None:
    async with ScriptedUpstream() as upstream:
        settings = make_settings(database_url, demo_upstream_url=upstream.url)
        app = create_app(settings, registry=ProviderRegistry([CachedReading]))
        with recording_spans() as exported:
            async for client in api_client(app):
                bodies = [
                    (await client.get("/integrations/fetch", params={"providers": "cached"})).json()
                    for _ in range(2)
                ]
                rows = await _rows(client, 2)
            spans = list(exported.get_finished_spans())
    assert upstream.calls == 1
    assert [b["results"][0]["cache"] for b in bodies] == ["miss", "hit"]
    trace_ids = [b["trace_id"] for b in bodies]
    assert all(t is not None for t in trace_ids) and trace_ids[0] != trace_ids[1]
    assert sorted((r["cache"], r["trace_id"]) for r in rows) == sorted(
        zip(["miss", "hit"], trace_ids, strict=True)
    )
    (hit,) = [s for s in spans if s.name == "provider cached" and _trace_id(s) == trace_ids[1]]
    assert hit.attributes is not None
    assert (hit.attributes["fanout.cache"], hit.attributes["fanout.attempts"]) == ("hit", 0)
    assert _children(spans, hit) == []  # no attempt: no upstream call
