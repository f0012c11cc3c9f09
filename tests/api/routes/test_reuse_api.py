"""Cache, coalescing and hedging through the API: results, stored rows, stats and metrics.

SQLite and PostgreSQL, a real local upstream; `Cache-Control: no-cache` on the request bypasses
the cache.
"""

import asyncio
from typing import Any, ClassVar

import httpx

from app.integrations.providers._demo import DemoProvider
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from tests.api.routes.test_metrics import _samples
from tests.conftest import api_client, make_settings
from tests.support.upstream import Answer, ScriptedUpstream, Seen


class CachedReading(DemoProvider):
    name = "cached"
    path = "reading"
    query: ClassVar[dict[str, str]] = {"room": "a"}
    policy_overrides: ClassVar[dict[str, Any]] = {"cache_ttl_s": 60}


class HedgedReading(DemoProvider):
    name = "hedged"
    path = "reading"
    query: ClassVar[dict[str, str]] = {"room": "a"}
    policy_overrides: ClassVar[dict[str, Any]] = {"hedge_after_ms": 20}


class FirstHedgedHangs:
    """The first call of `hedged` hangs: its hedge, 20 ms later, answers."""

    def __init__(self) -> None:
        self.hedged = 0

    def __call__(self, number: int, seen: Seen) -> Answer:
        if seen.target.startswith("/hedged/"):
            self.hedged += 1
            if self.hedged == 1:
                return Answer(delay_s=10)
        return Answer()


async def _rows(client: httpx.AsyncClient, want: int) -> list[dict[str, Any]]:
    for _ in range(500):  # the call log writes behind the response: poll with a bound
        page = (await client.get("/integrations/logs", params={"limit": 100})).json()
        if len(page["items"]) >= want:
            return list(page["items"])
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {want} rows stored")


async def test_results_rows_stats_and_metrics_say_what_the_cache_did(database_url: str) -> None:
    async with ScriptedUpstream(FirstHedgedHangs()) as upstream:
        settings = make_settings(database_url, demo_upstream_url=upstream.url)
        app = create_app(settings, registry=ProviderRegistry([CachedReading, HedgedReading]))
        async for client in api_client(app):
            query = {"providers": "cached,hedged", "room": "b"}
            first = (await client.get("/integrations/fetch", params=query)).json()["results"]
            second = (await client.get("/integrations/fetch", params=query)).json()["results"]
            bypass = await client.get(
                "/integrations/fetch",
                params={"providers": "cached", "room": "b"},
                headers={"Cache-Control": "no-cache"},
            )
            third = bypass.json()["results"]
            assert [r["cache"] for r in (first[0], second[0], third[0])] == ["miss", "hit", "miss"]
            assert (second[0]["attempts"], second[0]["data"]) == (0, {"value": 1})
            cached_calls = [s for s in upstream.seen if s.target.startswith("/cached/")]
            assert len(cached_calls) == 2
            hedged = first[1]
            assert (hedged["success"], hedged["attempts"], hedged["won_attempt"]) == (True, 2, 2)
            assert hedged["cache"] is None

            rows = await _rows(client, 5)
            by_cache = sorted((r["provider"], r["cache"]) for r in rows)
            assert by_cache == [
                ("cached", "hit"),
                ("cached", "miss"),
                ("cached", "miss"),
                ("hedged", None),
                ("hedged", None),
            ]
            assert {(r["attempts"], r["won_attempt"], r["coalesced"]) for r in rows} >= {
                (2, 2, False),
                (0, None, False),
            }

            stats = (await client.get("/integrations/stats")).json()["providers"]
            cache_stats = {p["provider"]: p["cache"] for p in stats}
            assert cache_stats["cached"] == {"hit": 1, "miss": 2, "stale": 0, "coalesced": 0}
            assert cache_stats["hedged"] == {"hit": 0, "miss": 0, "stale": 0, "coalesced": 0}
            samples = _samples((await client.get("/metrics")).text)
            hit = ("fanout_cache_results_total", (("provider", "cached"), ("result", "hit")))
            assert samples[hit] == 1


async def test_concurrent_identical_fan_outs_each_get_their_own_rows(database_url: str) -> None:
    async with ScriptedUpstream(lambda n, seen: Answer(delay_s=0.2)) as upstream:
        settings = make_settings(database_url, demo_upstream_url=upstream.url)
        app = create_app(settings, registry=ProviderRegistry([CachedReading]))
        async for client in api_client(app):
            answers = await asyncio.gather(
                *(
                    client.get("/integrations/fetch", params={"providers": "cached"})
                    for _ in range(5)
                )
            )
            assert all(a.json()["results"][0]["success"] for a in answers)
            rows = await _rows(client, 5)
            assert sorted(r["coalesced"] for r in rows) == [False] + [True] * 4
            assert len({r["request_id"] for r in rows}) == 5
        assert upstream.calls == 1
