"""Redis paused, killed, restarted: fan-outs never wait past the bound, and state comes back."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.state import BucketSpec
from app.state.shared import RedisState
from tests.support.redis_server import RedisServer

TIMEOUT_S = 0.05


@pytest.fixture
async def workers(own_redis: RedisServer) -> AsyncIterator[Callable[[], Awaitable[RedisState]]]:
    made: list[RedisState] = []

    async def make() -> RedisState:
        state = RedisState(own_redis.url, prefix="o", timeout_s=TIMEOUT_S, reconnect_s=0.05)
        await state.start()
        made.append(state)
        return state

    yield make
    for state in made:
        await state.close()


async def wait_until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def transitions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "app.state.shared" and r.levelno == logging.WARNING
    ]


async def test_a_frozen_redis_costs_a_fan_out_at_most_the_bound_and_one_warning(
    own_redis: RedisServer,
    workers: Callable[[], Awaitable[RedisState]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "app.state.shared")
    state = await workers()
    spec = BucketSpec(rate=100.0, burst=100)
    own_redis.pause()
    try:
        started = time.perf_counter()
        answers = await asyncio.gather(*(state.admit(f"p{i}", spec, 2, 1.0) for i in range(20)))
        first_batch_s = time.perf_counter() - started
        assert all(a.allowed for a in answers)  # answered from local state
        assert first_batch_s < TIMEOUT_S + 0.2
        started = time.perf_counter()
        for _ in range(50):  # degraded: no more waiting on Redis at all
            await state.admit("p0", spec, 2, 1.0)
        assert time.perf_counter() - started < TIMEOUT_S
        status = state.status()
        assert status.degraded
        assert status.fallbacks == 1
        assert "degraded" in status.detail
        assert len(transitions(caplog)) == 1
    finally:
        own_redis.resume()
    await wait_until(lambda: not state.degraded)
    assert len(transitions(caplog)) == 2
    assert "answers again" in transitions(caplog)[1]
    assert (await state.admit("p0", spec, 2, 1.0)).epoch == state.epoch


async def test_a_restarted_redis_is_used_again_without_help(
    own_redis: RedisServer, workers: Callable[[], Awaitable[RedisState]]
) -> None:
    a, b = await workers(), await workers()
    own_redis.stop()
    opened = await a.admit("p", None, 2, 1.0)
    assert a.degraded
    own_redis.start()  # the same port, empty: the script must be loaded again
    await wait_until(lambda: not a.degraded and not b.degraded)
    opened = await a.admit("p", None, 2, 1.0)
    assert not a.degraded
    await a.trip("p", opened, open_s=60)
    assert (await b.admit("p", None, 2, 1.0)).breaker == "open"


async def test_on_local_state_a_worker_takes_its_share_of_each_quota(
    own_redis: RedisServer, workers: Callable[[], Awaitable[RedisState]]
) -> None:
    await workers()
    second = await workers()
    assert second.live_workers == 2
    own_redis.stop()
    spec = BucketSpec(rate=0.01, burst=4)
    allowed = [(await second.admit("p", spec, 0, 0.1)).allowed for _ in range(4)]
    assert second.degraded
    assert allowed == [True, True, False, False]  # half of the burst of 4
    assert second.local.share == 2
