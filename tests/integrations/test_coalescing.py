"""Coalescing against a real local upstream: identical calls in flight share one upstream call."""

import asyncio

from app.core.errors import ErrorKind
from app.resilience.clock import SYSTEM_CLOCK
from app.resilience.deadline import Deadline
from tests.integrations.reuse_helpers import PostSensor, real_client, sensor
from tests.support.upstream import Answer, ScriptedUpstream

SLOW = Answer(delay_s=0.3)


async def _until(condition: object, what: str) -> None:
    for _ in range(2000):  # bounded poll: the server counts requests as they arrive
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def test_identical_calls_in_flight_share_one_upstream_call() -> None:
    async with ScriptedUpstream(lambda n, seen: SLOW) as upstream, real_client() as client:
        provider, _ = sensor(upstream.url, clock=SYSTEM_CLOCK)
        deadline = Deadline.after(5000)
        results = await asyncio.gather(
            *(
                provider.execute(client, {"room": "a"}, request_id=f"r{i}", deadline=deadline)
                for i in range(10)
            )
        )
    assert upstream.calls == 1
    assert all(r.success and r.data == {"value": 1} for r in results)
    assert sorted(r.coalesced for r in results) == [False] + [True] * 9
    assert sum(r.attempts for r in results) == 1  # the log's attempts add up to the upstream's
    assert provider.reuse.counters.coalesced == 9


async def test_different_parameters_are_not_coalesced() -> None:
    async with ScriptedUpstream(lambda n, seen: SLOW) as upstream, real_client() as client:
        provider, _ = sensor(upstream.url, clock=SYSTEM_CLOCK)
        await asyncio.gather(
            provider.execute(client, {"room": "a"}, request_id="r1"),
            provider.execute(client, {"room": "b"}, request_id="r2"),
        )
    assert upstream.calls == 2


async def test_a_short_deadline_or_a_departed_caller_never_cancels_the_shared_call() -> None:
    async with ScriptedUpstream(lambda n, seen: SLOW) as upstream, real_client() as client:
        provider, _ = sensor(upstream.url, clock=SYSTEM_CLOCK)
        # The first caller starts the call with a deadline of its own, far shorter.
        tight = Deadline.after(50, blames_upstream=False)
        hasty = asyncio.create_task(provider.execute(client, {}, request_id="r1", deadline=tight))
        await _until(lambda: upstream.calls == 1, "the first call reached the upstream")
        patient = asyncio.create_task(
            provider.execute(client, {}, request_id="r2", deadline=Deadline.after(5000))
        )
        departing = asyncio.create_task(
            provider.execute(client, {}, request_id="r3", deadline=Deadline.after(5000))
        )
        await asyncio.sleep(0)
        departing.cancel()  # its client went away
        first = await hasty
        assert (first.error_kind, first.coalesced) == (ErrorKind.TIMEOUT, False)
        assert "50 ms" in (first.error_message or "")
        second = await patient
        assert departing.cancelled()
    assert (second.success, second.coalesced, second.data) == (True, True, {"value": 1})
    assert upstream.calls == 1 and not upstream.dropped_mid_answer


async def test_when_every_caller_has_left_the_shared_call_is_cancelled() -> None:
    async with ScriptedUpstream(lambda n, seen: Answer(delay_s=10)) as upstream:
        async with real_client() as client:
            provider, _ = sensor(upstream.url, clock=SYSTEM_CLOCK)
            caller = asyncio.create_task(provider.execute(client, {}, request_id="r1"))
            await _until(lambda: upstream.calls == 1, "the call reached the upstream")
            caller.cancel()
            await asyncio.gather(caller, return_exceptions=True)
            await _until(lambda: upstream.dropped_mid_answer, "the upstream saw the call end")
        assert upstream.calls == 1


async def test_errors_are_shared_with_the_callers_of_that_moment_not_cached() -> None:
    failing = Answer({}, status=503, delay_s=0.2)
    async with (
        ScriptedUpstream(lambda n, seen: failing if n == 1 else Answer()) as upstream,
        real_client() as client,
    ):
        provider, _ = sensor(upstream.url, clock=SYSTEM_CLOCK, retries=0, cache_ttl_s=60)
        results = await asyncio.gather(
            *(provider.execute(client, {}, request_id=f"r{i}") for i in range(5))
        )
        assert upstream.calls == 1
        assert all(r.error_kind is ErrorKind.HTTP_STATUS for r in results)
        assert all(r.status_code == 503 for r in results)
        later = await provider.execute(client, {}, request_id="r6")
    assert (later.success, later.cache, upstream.calls) == (True, "miss", 2)


async def test_post_and_coalesce_off_are_never_coalesced() -> None:
    async with ScriptedUpstream(lambda n, seen: SLOW) as upstream, real_client() as client:
        post, _ = sensor(upstream.url, clock=SYSTEM_CLOCK, cls=PostSensor)
        off, _ = sensor(upstream.url, clock=SYSTEM_CLOCK, coalesce=False)
        results = await asyncio.gather(
            *(p.execute(client, {}, request_id=f"r{i}") for i in range(2) for p in (post, off))
        )
    assert all(r.success and not r.coalesced for r in results)
    assert upstream.calls == 4
