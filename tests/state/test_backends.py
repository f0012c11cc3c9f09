"""The `StateBackend` contract, run on the in-process backend and on Redis (a server of our own).

Two `RedisState`s on one server play two workers; two `InProcessState`s cannot share, so
the sharing tests run on Redis only.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from app.state import BucketSpec, InProcessState, StateBackend
from app.state.backend import CLOSED, HALF_OPEN, OPEN
from app.state.shared import RedisState
from tests.support.redis_server import RedisServer

Make = Callable[[], Awaitable[StateBackend]]
MakeRedis = Callable[[], Awaitable[RedisState]]


@pytest.fixture
async def redis_states(
    own_redis: RedisServer,
) -> AsyncIterator[MakeRedis]:
    async with _redis_states(own_redis.url) as make:
        yield make


@asynccontextmanager
async def _redis_states(url: str) -> AsyncIterator[MakeRedis]:
    made: list[RedisState] = []

    async def make() -> RedisState:
        state = RedisState(url, prefix="t", timeout_s=0.5, reconnect_s=0.05)
        await state.start()
        made.append(state)
        return state

    try:
        yield make
    finally:
        for state in made:
            await state.close()


@pytest.fixture(params=["process", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    if request.param == "process":

        async def local() -> StateBackend:
            return InProcessState()

        yield local
        return
    server: RedisServer = request.getfixturevalue("own_redis")
    async with _redis_states(server.url) as made:
        yield made


async def test_a_bucket_gives_its_burst_then_makes_calls_wait_or_refuses(make: Make) -> None:
    state = await make()
    spec = BucketSpec(rate=1.0, burst=3)
    for _ in range(3):
        admission = await state.admit("p", spec, 0, 5.0)
        assert admission.allowed
        assert admission.wait_s == 0
    refused = await state.admit("p", spec, 0, 0.1)
    assert not refused.allowed
    assert refused.rate_limited
    assert 0.8 < refused.retry_in_s <= 1.0
    waits = await state.admit("p", spec, 0, 5.0)  # takes the token in debt: waits for it
    assert waits.allowed
    assert 0.8 < waits.wait_s <= 1.0


async def test_a_tripped_breaker_refuses_then_lets_exactly_its_probes_through(make: Make) -> None:
    state = await make()
    first = await state.admit("p", None, 2, 1.0)
    assert (first.allowed, first.breaker) == (True, CLOSED)
    assert await state.trip("p", first, open_s=60) == OPEN
    refused = await state.admit("p", None, 2, 1.0)
    assert (refused.allowed, refused.breaker, refused.rate_limited) == (False, OPEN, False)
    # open_s 0: the next admission finds it over and moves to half-open.
    again = await state.admit("q", None, 2, 1.0)
    assert await state.trip("q", again, open_s=0) == OPEN
    probes = [await state.admit("q", None, 2, 1.0) for _ in range(3)]
    assert [(p.allowed, p.breaker) for p in probes] == [
        (True, HALF_OPEN),
        (True, HALF_OPEN),
        (False, HALF_OPEN),
    ]
    assert await state.probe_outcome("q", probes[0], False, 2, 60) == HALF_OPEN
    assert await state.probe_outcome("q", probes[1], False, 2, 60) == CLOSED
    assert (await state.admit("q", None, 2, 1.0)).breaker == CLOSED


async def test_a_failed_probe_reopens_and_a_released_one_frees_its_slot(make: Make) -> None:
    state = await make()
    first = await state.admit("p", None, 1, 1.0)
    await state.trip("p", first, open_s=0)
    probe = await state.admit("p", None, 1, 1.0)
    assert (probe.allowed, probe.breaker) == (True, HALF_OPEN)
    assert not (await state.admit("p", None, 1, 1.0)).allowed
    await state.release("p", probe)
    probe = await state.admit("p", None, 1, 1.0)
    assert probe.allowed
    assert await state.probe_outcome("p", probe, True, 1, 60) == OPEN
    assert (await state.admit("p", None, 1, 1.0)).breaker == OPEN


async def test_outcomes_of_an_older_generation_are_ignored(make: Make) -> None:
    state = await make()
    old = await state.admit("p", None, 1, 1.0)
    await state.trip("p", old, open_s=0)
    probe = await state.admit("p", None, 1, 1.0)
    await state.probe_outcome("p", probe, False, 1, 60)  # closed again, a new generation
    assert await state.trip("p", old, open_s=60) == CLOSED
    assert (await state.admit("p", None, 1, 1.0)).allowed


async def test_a_refusal_by_the_bucket_gives_the_probe_slot_back(make: Make) -> None:
    state = await make()
    spec = BucketSpec(rate=0.01, burst=1)
    first = await state.admit("p", spec, 1, 1.0)
    await state.trip("p", first, open_s=0)
    limited = await state.admit("p", spec, 1, 1.0)  # the bucket is empty for 100 s
    assert limited.rate_limited
    assert limited.breaker == HALF_OPEN
    probe = await state.admit("p", None, 1, 1.0)  # the slot is free again
    assert (probe.allowed, probe.breaker) == (True, HALF_OPEN)


async def test_a_client_limit_allows_its_burst_then_says_how_long_to_wait(make: Make) -> None:
    state = await make()
    assert [await state.client_take("alice", 1.0, 2) for _ in range(2)] == [0.0, 0.0]
    wait = await state.client_take("alice", 1.0, 2)
    assert 0.8 < wait <= 1.0
    assert await state.client_take("bob", 1.0, 2) == 0.0


async def test_two_workers_share_quota_breaker_and_client_limits(
    redis_states: MakeRedis,
) -> None:
    a, b = await redis_states(), await redis_states()
    spec = BucketSpec(rate=0.01, burst=4)
    allowed = [(await s.admit("p", spec, 0, 0.1)).allowed for s in (a, b, a, b, a, b)]
    assert allowed == [True, True, True, True, False, False]
    opened = await a.admit("q", None, 2, 1.0)
    await a.trip("q", opened, open_s=60)
    assert (await b.admit("q", None, 2, 1.0)).breaker == OPEN
    assert [await s.client_take("alice", 0.01, 1) for s in (a, b)][1] > 0


async def test_one_fan_out_is_one_round_trip(
    redis_states: MakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    state = await redis_states()
    calls = 0
    script = state._script

    async def counted(**kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return await script(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(state, "_script", counted)
    spec = BucketSpec(rate=100.0, burst=100)
    answers = await asyncio.gather(*(state.admit(f"p{i}", spec, 2, 1.0) for i in range(20)))
    assert all(a.allowed for a in answers)
    assert calls == 1
