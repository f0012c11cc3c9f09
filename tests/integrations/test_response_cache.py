"""The response cache on a fake clock against a real local upstream: TTL, headers, bypass, stale.

Every test of the semantics runs once per store: in memory, and in a redis-server of its own
(skipped with the reason when the binary is missing, failed in CI).
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from app.core.errors import ErrorKind
from app.integrations.reuse import Reuse
from app.resilience.redis_store import RedisStore
from app.resilience.response_cache import CacheEntry, CacheStore, MemoryStore, freshness
from tests.integrations.reuse_helpers import real_client, sensor
from tests.support.clock import FakeClock
from tests.support.redis_server import redis_server
from tests.support.upstream import Answer, ScriptedUpstream


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CacheStore]:
    if request.param == "memory":
        yield MemoryStore(1 << 20)
        return
    for server in redis_server(tmp_path):
        shared = RedisStore.from_url(server.url, "test", timeout_ms=2000, reconnect_ms=500)
        try:
            yield shared
        finally:
            await shared.aclose()


async def test_a_fresh_answer_is_served_without_a_call_until_its_ttl(store: CacheStore) -> None:
    async with ScriptedUpstream() as upstream, real_client() as client:
        provider, clock = sensor(upstream.url, store=store, cache_ttl_s=60)
        assert isinstance(clock, FakeClock)
        first = await provider.execute(client, {"room": "a"}, request_id="r1")
        assert (first.success, first.cache, first.attempts, upstream.calls) == (True, "miss", 1, 1)
        again = await provider.execute(client, {"room": "a"}, request_id="r2")
        assert (again.success, again.cache, again.attempts) == (True, "hit", 0)
        assert (again.data, again.status_code, upstream.calls) == ({"value": 1}, 200, 1)
        other = await provider.execute(client, {"room": "b"}, request_id="r3")
        assert (other.cache, upstream.calls) == ("miss", 2)  # another room, another key
        clock.advance(60)
        expired = await provider.execute(client, {"room": "a"}, request_id="r4")
        assert (expired.cache, upstream.calls) == ("miss", 3)
        assert provider.reuse.counters.as_dict() == {
            "hit": 1,
            "miss": 3,
            "stale": 0,
            "coalesced": 0,
        }


async def test_off_by_default(store: CacheStore) -> None:
    async with ScriptedUpstream() as upstream, real_client() as client:
        provider, _ = sensor(upstream.url, store=store)
        for _ in range(3):
            result = await provider.execute(client, {}, request_id="r")
            assert (result.success, result.cache) == (True, None)
        assert upstream.calls == 3


@pytest.mark.parametrize(
    ("header", "fresh_for"),
    [
        ("max-age=600", 600),
        ("public, max-age=30, s-maxage=90", 90),  # a shared cache reads s-maxage first
        ("no-store", 0),
        ("private, max-age=600", 0),  # we are a shared cache: a private answer is not ours
        ("no-cache", 0),  # stored for stale-if-error only, never served without a call
        ("max-age=ten", 0),  # invalid: stale at once
    ],
)
async def test_upstream_cache_control_is_honoured_when_asked(
    header: str, fresh_for: int, store: CacheStore
) -> None:
    answer = Answer(headers={"Cache-Control": header})
    async with ScriptedUpstream(lambda n, seen: answer) as upstream, real_client() as client:
        provider, clock = sensor(upstream.url, store=store, cache_respect_headers=True)
        assert isinstance(clock, FakeClock)
        await provider.execute(client, {}, request_id="r1")
        if fresh_for:
            clock.advance(fresh_for - 1)
            hit = await provider.execute(client, {}, request_id="r2")
            assert (hit.cache, upstream.calls) == ("hit", 1)
            clock.advance(1)
        miss = await provider.execute(client, {}, request_id="r3")
        assert (miss.cache, upstream.calls) == ("miss", 2)


async def test_expires_counts_from_the_upstreams_date_and_the_ttl_applies_without_headers(
    store: CacheStore,
) -> None:
    date = datetime(2026, 1, 1, tzinfo=UTC)
    answers = [
        Answer(
            headers={
                "Date": format_datetime(date, usegmt=True),
                "Expires": format_datetime(date + timedelta(seconds=30), usegmt=True),
            }
        ),
        Answer(),
    ]
    async with (
        ScriptedUpstream(lambda n, seen: answers[min(n, 2) - 1]) as upstream,
        real_client() as client,
    ):
        provider, clock = sensor(
            upstream.url, store=store, cache_respect_headers=True, cache_ttl_s=5
        )
        assert isinstance(clock, FakeClock)
        await provider.execute(client, {}, request_id="r1")
        clock.advance(29)
        assert (await provider.execute(client, {}, request_id="r2")).cache == "hit"
        clock.advance(1)
        assert (await provider.execute(client, {}, request_id="r3")).cache == "miss"
        clock.advance(4)  # the second answer had no header: the policy's 5 s
        assert (await provider.execute(client, {}, request_id="r4")).cache == "hit"
        clock.advance(1)
        assert (await provider.execute(client, {}, request_id="r5")).cache == "miss"
        assert upstream.calls == 3


async def test_a_client_may_bypass_the_cache_and_refreshes_it(store: CacheStore) -> None:
    values = iter(range(1, 10))
    async with (
        ScriptedUpstream(lambda n, seen: Answer({"value": next(values)})) as upstream,
        real_client() as client,
    ):
        provider, _ = sensor(upstream.url, store=store, cache_ttl_s=60)
        await provider.execute(client, {}, request_id="r1")
        fresh = await provider.execute(client, {}, request_id="r2", use_cache=False)
        assert (fresh.cache, fresh.data, upstream.calls) == ("miss", {"value": 2}, 2)
        cached = await provider.execute(client, {}, request_id="r3")
        assert (cached.cache, cached.data, upstream.calls) == ("hit", {"value": 2}, 2)


async def test_stale_if_error_shows_a_kept_answer_beside_the_error_for_its_window(
    store: CacheStore,
) -> None:
    answers = {1: Answer({"value": 41})}
    async with (
        ScriptedUpstream(lambda n, seen: answers.get(n, Answer({}, status=503))) as upstream,
        real_client() as client,
    ):
        provider, clock = sensor(
            upstream.url, store=store, cache_ttl_s=10, stale_if_error_s=50, retries=0
        )
        assert isinstance(clock, FakeClock)
        await provider.execute(client, {}, request_id="r1")
        clock.advance(10)
        stale = await provider.execute(client, {}, request_id="r2")
        assert (stale.success, stale.error_kind, stale.stale) == (
            False,
            ErrorKind.HTTP_STATUS,
            True,
        )
        assert (stale.cache, stale.data, stale.attempts) == ("stale", {"value": 41}, 1)
        other = await provider.execute(client, {"room": "b"}, request_id="r3")
        assert (other.stale, other.data, other.cache) == (False, None, "miss")  # never Busan's
        clock.advance(50)
        gone = await provider.execute(client, {}, request_id="r4")
        assert (gone.stale, gone.data, gone.cache) == (False, None, "miss")


async def test_errors_are_never_cached(store: CacheStore) -> None:
    answers = {1: Answer({}, status=503)}
    async with (
        ScriptedUpstream(lambda n, seen: answers.get(n, Answer())) as upstream,
        real_client() as client,
    ):
        provider, _ = sensor(upstream.url, store=store, cache_ttl_s=60, retries=0)
        assert not (await provider.execute(client, {}, request_id="r1")).success
        second = await provider.execute(client, {}, request_id="r2")
        assert (second.success, second.cache, upstream.calls) == (True, "miss", 2)


def test_the_key_is_a_digest_of_what_is_sent() -> None:
    provider, _ = sensor("http://127.0.0.1:9", cache_ttl_s=60)
    reuse: Reuse = provider.reuse
    names = ("room",)
    key = reuse.key(provider.endpoint, {"room": "Busan-secret"}, names)
    assert len(key) == 32 and "Busan" not in key
    assert key == reuse.key(provider.endpoint, {"room": "Busan-secret", "other": 1}, names)
    assert key != reuse.key(provider.endpoint, {"room": "Seoul"}, names)
    assert key != reuse.key(provider.endpoint + "/v2", {"room": "Busan-secret"}, names)


async def test_memory_store_drops_the_least_recently_used_past_its_bytes() -> None:
    store = MemoryStore(1000)

    def entry(size: int) -> CacheEntry:
        return CacheEntry({"v": "x" * size}, 200, 0.0, 100.0, 200.0)

    await store.put("a", entry(100))
    await store.put("b", entry(100))
    assert await store.get("a", 1.0) is not None  # a is now the most recently used
    await store.put("c", entry(300))
    assert (await store.get("b", 1.0), len(store)) == (None, 2)
    assert await store.get("a", 1.0) is not None
    assert store.bytes <= store.max_bytes and store.evictions == 1
    await store.put("huge", entry(5000))  # larger than the whole store: not stored
    assert await store.get("huge", 1.0) is None and len(store) == 2
    assert await store.get("a", 200.0) is None  # past keep_until: gone


def test_freshness_reads_headers_only_when_asked() -> None:
    assert freshness(60, False, "no-store", None).fresh_s == 60
    assert not freshness(60, True, "No-Store", None).storable
    assert freshness(60, True, 'max-age="15"', None).fresh_s == 15
    assert freshness(60, True, None, -5).fresh_s == 0
    assert freshness(60, True, None, None).fresh_s == 60


async def test_a_redis_that_is_down_is_a_miss_and_calls_go_upstream(tmp_path: Path) -> None:
    for server in redis_server(tmp_path):
        shared = RedisStore.from_url(server.url, "test", timeout_ms=200, reconnect_ms=60_000)
        server.stop()
        async with ScriptedUpstream() as upstream, real_client() as client:
            provider, _ = sensor(upstream.url, store=shared, cache_ttl_s=60)
            for n in range(3):
                result = await provider.execute(client, {}, request_id=f"r{n}")
                assert (result.success, result.cache) == (True, "miss")
        assert upstream.calls == 3
        assert shared.failures == 1  # then skipped until `reconnect_ms`, not asked per call
        await shared.aclose()


async def test_a_static_fallback_beside_a_missing_cache_entry_is_still_redacted() -> None:
    async with (
        ScriptedUpstream(lambda n, seen: Answer({}, status=503)) as upstream,
        real_client() as client,
    ):
        provider, _ = sensor(
            upstream.url,
            retries=0,
            stale_if_error_s=60,
            fallback="static",
            fallback_value={"value": 0, "api_key": "sk-live-123"},
        )
        result = await provider.execute(client, {}, request_id="r")
    assert (result.stale, result.cache) == (True, "miss")
    assert result.data is not None and result.data["api_key"] != "sk-live-123"
