"""`SharedPolicyRunner`: two runners on one Redis play one provider in two workers."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.resilience.deadline import Deadline
from app.resilience.policy import build_policy, policy_defaults
from app.resilience.runner import Outcome, RunResult
from app.resilience.shared_runner import SharedPolicyRunner
from app.state import InProcessState
from app.state.shared import RedisState
from tests.support.redis_server import RedisServer

DEFAULTS = policy_defaults(Settings(_env_file=None))
Make = Callable[..., Awaitable[SharedPolicyRunner]]


@pytest.fixture
async def worker(own_redis: RedisServer) -> AsyncIterator[Make]:
    """Each call: a runner for provider `p` in a worker of its own (its own RedisState)."""
    states: list[RedisState] = []

    async def make(**policy: Any) -> SharedPolicyRunner:
        state = RedisState(own_redis.url, prefix="r", timeout_s=0.5, reconnect_s=0.05)
        await state.start()
        states.append(state)
        overrides = {"retries": 0, "max_concurrency": None, **policy}
        return SharedPolicyRunner("p", build_policy("p", DEFAULTS, {}, overrides), state=state)

    yield make
    for state in states:
        await state.close()


def deadline() -> Deadline:
    return Deadline.after(5000)


async def ok() -> Outcome:
    return Outcome(data={"v": 1})


async def fails() -> Outcome:
    return Outcome(ErrorKind.HTTP_STATUS, "upstream answered HTTP 503", status_code=503)


async def test_a_breaker_tripped_by_one_worker_stops_the_other(worker: Make) -> None:
    policy = {"breaker_window": 4, "breaker_min_calls": 4, "breaker_open_ms": 60_000}
    a, b = await worker(**policy), await worker(**policy)
    for _ in range(4):
        await a.run(fails, deadline())
    called = False

    async def tracked() -> Outcome:
        nonlocal called
        called = True
        return Outcome()

    result = await b.run(tracked, deadline())
    assert result.outcome.kind is ErrorKind.CIRCUIT_OPEN
    assert result.attempts == 0
    assert not called
    assert b.breaker is not None
    assert b.breaker.state == "open"


async def test_half_open_lets_exactly_its_probes_through_across_workers(worker: Make) -> None:
    policy = {"breaker_window": 2, "breaker_min_calls": 2, "breaker_open_ms": 0}
    policy["breaker_probes"] = 2
    a, b = await worker(**policy), await worker(**policy)
    for _ in range(2):
        await a.run(fails, deadline())  # open for 0 ms: the next admissions are probes
    gate = asyncio.Event()
    started = 0

    async def held() -> Outcome:
        nonlocal started
        started += 1
        await gate.wait()
        return Outcome(data={})

    runs = [asyncio.create_task(r.run(held, deadline())) for r in (a, b, a, b)]
    done, _ = await asyncio.wait(runs, timeout=2, return_when=asyncio.FIRST_COMPLETED)
    refused = [t.result() for t in done]
    assert len(refused) == 2
    assert {r.outcome.kind for r in refused} == {ErrorKind.CIRCUIT_OPEN}
    assert started == 2
    gate.set()
    await asyncio.gather(*runs)
    after = await b.run(ok, deadline())  # both probes succeeded: closed for every worker
    assert after.outcome.kind is None
    assert after.breaker_state == "closed"


async def test_the_quota_is_shared_and_a_refusal_says_when_to_retry(worker: Make) -> None:
    policy = {"rate_limit_per_s": 0.01, "rate_limit_burst": 3, "breaker_enabled": False}
    a, b = await worker(**policy), await worker(**policy)
    results: list[RunResult] = [await r.run(ok, deadline()) for r in (a, b, a, b)]
    assert [r.outcome.kind for r in results] == [None, None, None, ErrorKind.RATE_LIMITED]
    assert results[3].outcome.message == (
        "outbound rate limit of 0.01/s: no token before the deadline"
    )
    assert results[3].retry_at is not None


async def test_the_static_fallback_stands_in_for_a_failure(worker: Make) -> None:
    # The fallback cache of old is the response cache's stale-if-error now, above the runner.
    runner = await worker(fallback="static", fallback_value={"v": 0}, breaker_enabled=False)
    stale = await runner.run(fails, deadline())
    assert (stale.stale, stale.outcome.data) == (True, {"v": 0})


async def test_hedges_go_out_unless_the_quota_is_shared(worker: Make) -> None:
    calls = 0
    never = asyncio.Event()

    async def first_hangs() -> Outcome:
        nonlocal calls
        calls += 1
        if calls == 1:
            await never.wait()  # the first attempt never answers: only a hedge can
        return Outcome(data={"v": calls})

    hedged = await worker(hedge_after_ms=10, breaker_enabled=False)
    result = await hedged.run(first_hangs, deadline())
    assert (result.outcome.data, result.attempts, result.won_attempt) == ({"v": 2}, 2, 2)
    # A shared token would need a round trip at the hedge's moment: no hedge, the deadline ends it.
    calls = 0
    limited = await worker(
        hedge_after_ms=10, breaker_enabled=False, rate_limit_per_s=100.0, rate_limit_burst=10
    )
    result = await limited.run(first_hangs, Deadline.after(200))
    assert (result.outcome.kind, result.attempts, calls) == (ErrorKind.TIMEOUT, 1, 1)


async def test_a_shared_token_is_waited_for_at_most_half_the_budget() -> None:
    # A token taken by a call with no time left to go out would be lost to every worker.
    policy = build_policy(
        "p", DEFAULTS, {}, {"rate_limit_per_s": 1.0, "rate_limit_burst": 1, "retries": 0}
    )
    runner = SharedPolicyRunner("p", policy, state=InProcessState())
    assert (await runner.run(ok, Deadline.after(1500))).outcome.kind is None
    # The next token is 1 s away: within the 1.5 s budget, but not within half of it.
    refused = await runner.run(ok, Deadline.after(1500))
    assert refused.outcome.kind is ErrorKind.RATE_LIMITED
    assert refused.attempts == 0
