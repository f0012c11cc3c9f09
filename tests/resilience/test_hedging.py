"""Hedged attempts on a fake clock against a real local upstream.

`GatedClock` holds the hedge's wait until the first attempt has reached the server, so which
attempt is "the first" is the order the upstream saw, not a race of connects.
"""

import asyncio

from app.core.errors import ErrorKind
from app.resilience.clock import SYSTEM_CLOCK
from app.resilience.deadline import Deadline
from app.resilience.hedge import HedgeDelay
from app.resilience.runner import PolicyRunner
from tests.integrations.reuse_helpers import PostSensor, real_client, sensor
from tests.support.clock import FakeClock
from tests.support.upstream import Answer, ScriptedUpstream, Seen


class GatedClock(FakeClock):
    def __init__(self, upstream: ScriptedUpstream) -> None:
        super().__init__()
        self.upstream = upstream
        self.arrived = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.arrived.wait()
        await super().sleep(seconds)


def first_slow(clock_box: list[GatedClock], slow: Answer) -> object:
    def script(number: int, seen: Seen) -> Answer:
        clock_box[0].arrived.set()
        return slow if number == 1 else Answer({"value": 2})

    return script


async def upstream_with(slow: Answer) -> tuple[ScriptedUpstream, GatedClock]:
    box: list[GatedClock] = []
    upstream = ScriptedUpstream(first_slow(box, slow))  # type: ignore[arg-type]
    clock = GatedClock(upstream)
    box.append(clock)
    return upstream, clock


async def test_the_first_good_answer_wins_and_the_loser_is_cancelled_mid_body() -> None:
    upstream, clock = await upstream_with(Answer({"value": 1}, stall_mid_body=True))
    async with upstream, real_client() as client:
        provider, _ = sensor(upstream.url, clock=clock, hedge_after_ms=50)
        deadline = Deadline.after(5000, clock)
        result = await provider.execute(client, {}, request_id="r", deadline=deadline)
        assert (result.success, result.data) == (True, {"value": 2})
        assert (result.attempts, result.won_attempt) == (2, 2)
        assert 0.05 in clock.sleeps
        loser = upstream.seen[0].connection
        # The loser's connection was closed mid-answer, never handed to the next call.
        assert loser in upstream.dropped_mid_answer
        await provider.execute(client, {}, request_id="r2", deadline=Deadline.after(5000, clock))
        assert all(seen.connection != loser for seen in upstream.seen[1:])


async def test_a_quick_answer_sends_no_hedge() -> None:
    async with ScriptedUpstream() as upstream, real_client() as client:
        # A fake clock's sleep ends at once: the real one shows the timer is cancelled unused.
        provider, _ = sensor(upstream.url, clock=SYSTEM_CLOCK, hedge_after_ms=60_000)
        result = await provider.execute(client, {}, request_id="r")
        assert (result.attempts, result.won_attempt, upstream.calls) == (1, 1, 1)


async def test_every_hedge_takes_a_rate_limit_token() -> None:
    upstream, clock = await upstream_with(Answer({"value": 1}, delay_s=0.2))
    async with upstream, real_client() as client:
        provider, _ = sensor(
            upstream.url, clock=clock, hedge_after_ms=50, rate_limit_per_s=0.001, rate_limit_burst=2
        )
        hedged = await provider.execute(client, {}, request_id="r1")
        assert (hedged.attempts, hedged.won_attempt) == (2, 2)
        deadline = Deadline.after(1000, clock)
        refused = await provider.execute(client, {}, request_id="r2", deadline=deadline)
        assert (refused.error_kind, refused.attempts) == (ErrorKind.RATE_LIMITED, 0)


async def test_no_hedge_without_a_token() -> None:
    upstream, clock = await upstream_with(Answer({"value": 1}, delay_s=0.1))
    async with upstream, real_client() as client:
        provider, _ = sensor(
            upstream.url, clock=clock, hedge_after_ms=50, rate_limit_per_s=0.001, rate_limit_burst=1
        )
        result = await provider.execute(client, {}, request_id="r1")
        assert (result.success, result.attempts, result.won_attempt) == (True, 1, 1)
        assert upstream.calls == 1


async def test_no_hedge_past_the_deadline() -> None:
    upstream, clock = await upstream_with(Answer({"value": 1}, delay_s=5))
    async with upstream, real_client() as client:
        provider, _ = sensor(upstream.url, clock=clock, hedge_after_ms=50, retries=0)
        deadline = Deadline(clock.monotonic() + 0.03, 30, clock)
        result = await provider.execute(client, {}, request_id="r", deadline=deadline)
        assert (result.error_kind, result.attempts, result.won_attempt) == (
            ErrorKind.TIMEOUT,
            1,
            None,
        )
        assert upstream.calls == 1


async def test_no_hedge_while_the_breaker_is_half_open() -> None:
    # The first call and its hedge both fail (the fake clock's wait ends at once).
    answers = {1: Answer({}, status=503), 2: Answer({}, status=503)}
    answers[3] = Answer({"value": 1}, delay_s=0.1)
    async with (
        ScriptedUpstream(lambda n, seen: answers.get(n, Answer())) as upstream,
        real_client() as client,
    ):
        provider, clock = sensor(
            upstream.url,
            hedge_after_ms=50,
            retries=0,
            breaker_window=1,
            breaker_min_calls=1,
            breaker_open_ms=1000,
            breaker_probes=1,
        )
        assert isinstance(clock, FakeClock)
        opened = await provider.execute(client, {}, request_id="r1")
        assert (opened.breaker_state, opened.attempts) == ("open", 2)
        clock.advance(1.1)
        probe = await provider.execute(client, {}, request_id="r2")
        assert (probe.success, probe.attempts, upstream.calls) == (True, 1, 3)
        assert probe.breaker_state == "closed"


async def test_a_post_is_never_hedged() -> None:
    async with ScriptedUpstream(lambda n, seen: Answer(delay_s=0.1)) as upstream:
        async with real_client() as client:
            provider, _ = sensor(upstream.url, cls=PostSensor, hedge_after_ms=1)
            runner = provider.runner
            assert isinstance(runner, PolicyRunner) and runner.hedge_delay is None
            result = await provider.execute(client, {}, request_id="r")
        assert (result.success, result.attempts, upstream.calls) == (True, 1, 1)
        assert upstream.seen[0].method == "POST"


def test_the_delay_follows_a_percentile_of_recent_latency_once_it_has_enough() -> None:
    delay = HedgeDelay(50, 90)
    for ms in range(1, 20):
        delay.observe(ms / 1000)
    assert delay.seconds() == 0.05  # 19 samples: still the fixed delay
    delay.observe(0.02)
    assert delay.seconds() == 0.018  # the 18th of 20 sorted samples: the 90th percentile
    fixed = HedgeDelay(50, None)
    fixed.observe(1.0)
    assert fixed.seconds() == 0.05
