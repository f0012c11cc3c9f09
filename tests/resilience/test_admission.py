"""Admission control: slots, the bounded FIFO wait, deadline refusals, transitions, adaptation."""

import asyncio
import logging

import pytest

from app.resilience.admission import OVERLOAD_INTERVAL_S, QUIET_S, Admission, Shed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_free_slot_admits_at_once_and_a_full_gate_sheds_after_the_wait() -> None:
    gate = Admission(limit=2, max_wait_s=0.02)
    await gate.acquire(5.0)
    await gate.acquire(5.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Shed, match="at capacity"):
        await gate.acquire(5.0)
    # Bounded by max_wait_s (plus scheduling), never by the 5 s deadline.
    assert loop.time() - started < 1.0
    stats = gate.stats()
    assert (stats.admitted, stats.shed_full, stats.in_flight, stats.queued) == (2, 1, 2, 0)
    assert stats.shedding


class Waiters:
    """A gate of one slot, already taken, and waiters that note the order they get it in."""

    def __init__(self, clock: Clock) -> None:
        self.gate = Admission(limit=1, max_wait_s=5.0, max_queue=5, clock=clock)
        self.order: list[str] = []

    async def start(self, *names: str) -> list["asyncio.Task[None]"]:
        if self.gate.in_flight == 0:
            await self.gate.acquire(10.0)
        tasks = [asyncio.create_task(self._wait(name)) for name in names]
        await asyncio.sleep(0)  # they queue
        return tasks

    async def _wait(self, name: str) -> None:
        await self.gate.acquire(10.0)
        self.order.append(name)


async def test_a_released_slot_goes_to_the_oldest_waiter() -> None:
    clock = Clock()
    waiters = Waiters(clock)
    first, second = await waiters.start("first", "second")
    gate = waiters.gate
    assert gate.stats().queued == 2
    clock.now += OVERLOAD_INTERVAL_S / 2  # a burst: the queue is young
    gate.release(0.01)
    await first
    assert waiters.order == ["first"] and gate.in_flight == 1
    gate.release(0.01)
    await second
    assert waiters.order == ["first", "second"]
    gate.release(0.01)
    assert gate.in_flight == 0


async def test_a_full_queue_sheds_without_waiting() -> None:
    gate = Admission(limit=1, max_wait_s=5.0, max_queue=1)
    await gate.acquire(10.0)
    waiter = asyncio.create_task(gate.acquire(10.0))
    await asyncio.sleep(0)
    with pytest.raises(Shed):
        await gate.acquire(10.0)  # returns at once: the test would hang 5 s otherwise
    assert gate.shed_full == 1
    gate.release(0.01)
    await waiter


async def seen_taking(gate: Admission, seconds: float) -> None:
    """Enough fan-outs through `gate`, each taking `seconds`, that its estimate is known."""
    for _ in range(20):
        await gate.acquire(10.0)
        gate.release(seconds)


def refused_without_waiting(gate: Admission) -> None:
    """`acquire` raises Shed before it first suspends: no wait, not even a loop turn."""
    attempt = gate.acquire(10.0)
    try:
        with pytest.raises(Shed, match="at capacity"):
            attempt.send(None)
    finally:
        attempt.close()


async def test_the_queue_holds_only_what_frees_within_half_the_wait() -> None:
    clock = Clock()
    gate = Admission(limit=10, max_wait_s=0.4, clock=clock)
    await seen_taking(gate, 1.0)
    for _ in range(10):
        await gate.acquire(10.0)
    # 10 in flight, 1 s each: a slot frees every 100 ms, two within half of the 400 ms wait.
    waiters = [asyncio.create_task(gate.acquire(10.0)) for _ in range(2)]
    await asyncio.sleep(0)
    assert gate.stats().queued == 2
    for _ in range(3):
        refused_without_waiting(gate)
    assert (gate.stats().shed_full, gate.stats().queued) == (3, 2)
    gate.release(1.0)
    gate.release(1.0)
    await asyncio.gather(*waiters)  # the two that waited are admitted


async def test_the_queue_bound_is_never_below_one_nor_above_max_queue() -> None:
    slow = Admission(limit=1, max_wait_s=1.0)
    await seen_taking(slow, 10.0)  # a slot frees every 10 s: not within the 1 s wait
    await slow.acquire(20.0)
    waiter = asyncio.create_task(slow.acquire(20.0))
    await asyncio.sleep(0)
    assert slow.stats().queued == 1  # one may still wait for the slot
    slow.release(10.0)
    await waiter

    fast = Admission(limit=2, max_wait_s=5.0, max_queue=1)
    await seen_taking(fast, 0.001)  # thousands would free within the wait
    await fast.acquire(10.0)
    await fast.acquire(10.0)
    waiter = asyncio.create_task(fast.acquire(10.0))
    await asyncio.sleep(0)
    refused_without_waiting(fast)  # max_queue is 1
    fast.release(0.001)
    await waiter


async def test_a_deadline_that_leaves_no_room_to_wait_is_refused_up_front() -> None:
    gate = Admission(limit=1, max_wait_s=1.0)
    for _ in range(20):  # recent fan-outs took 200 ms
        await gate.acquire(10.0)
        gate.release(0.2)
    await gate.acquire(10.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Shed, match="timeout_ms"):
        await gate.acquire(0.15)  # 150 ms cannot hold a 200 ms fan-out plus any wait
    assert loop.time() - started < 0.5
    assert gate.shed_deadline == 1 and gate.shed_full == 0
    gate.release(0.2)
    await gate.acquire(0.15)  # a free slot: admitted, the fan-out's own deadline applies


async def test_a_client_gone_while_queued_leaves_the_queue_and_holds_no_slot() -> None:
    gate = Admission(limit=1, max_wait_s=5.0)
    await gate.acquire(10.0)
    waiter = asyncio.create_task(gate.acquire(10.0))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.stats().queued == 0
    gate.release(0.01)
    assert gate.in_flight == 0


async def test_one_log_line_per_transition_not_per_shed(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    gate = Admission(limit=1, max_wait_s=0.0, clock=clock)
    await gate.acquire(10.0)
    with caplog.at_level(logging.WARNING, logger="app.resilience.admission"):
        for _ in range(50):
            with pytest.raises(Shed):
                await gate.acquire(10.0)
        assert gate.shedding()
        clock.now += QUIET_S / 2
        assert gate.shedding()  # still within the quiet period
        clock.now += QUIET_S / 2
        assert not gate.shedding()
        gate.release(0.01)
        await gate.acquire(10.0)  # the first request after the quiet period logs the end
        gate.release(0.01)
        await gate.acquire(10.0)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("admission: shedding")
    assert "50 requests shed" in messages[1]


async def test_the_adaptive_limit_shrinks_when_latency_grows_and_recovers() -> None:
    gate = Admission(limit=40, adaptive=True, window=8, min_limit=4)

    async def window(duration_s: float, in_flight: int) -> None:
        for _ in range(8 // in_flight):
            for _ in range(in_flight):
                await gate.acquire(10.0)
            for _ in range(in_flight):
                gate.release(duration_s)

    await window(0.02, 4)  # the unloaded latency
    assert gate.limit == 40
    await window(0.05, 4)  # 2.5x: queueing has begun
    assert gate.limit == 36
    for _ in range(30):
        await window(0.1, 4)
    assert gate.limit == 4  # never below min_limit
    await window(0.02, 4)  # latency back to normal, limit reached in the window: grows by one
    assert gate.limit == 5


async def test_the_baseline_fades_with_time_not_with_the_number_of_windows() -> None:
    # At a thousand fan-outs a second a window passes every few milliseconds: a baseline that
    # faded per window climbed with the load itself, and queueing was never seen.
    clock = Clock()
    gate = Admission(limit=40, adaptive=True, window=8, min_limit=4, clock=clock)

    def window(duration_s: float) -> None:
        for _ in range(8):
            gate.in_flight += 1  # as `acquire` does; the gate's limit is never reached here
            gate.release(duration_s)

    window(0.02)  # the unloaded latency
    for _ in range(15):
        window(0.035)  # 1.75x, many windows within the same instant
    assert gate.limit == 5  # cut by a tenth every window (40, 36, 32, ... 5)
    clock.now += 100.0  # a hundred seconds later the old baseline has faded to 2x
    limit = gate.limit
    window(0.035)
    assert gate.limit == limit  # 0.035 is the new normal: no cut


async def test_a_queued_fan_out_is_timed_from_its_slot_not_from_its_wait() -> None:
    # A wait that grows as the limit is reached must not read as latency: it would cut the
    # limit, which lengthens the waits, which cuts it again.
    clock = Clock()
    gate = Admission(limit=1, max_wait_s=1.0, clock=clock)
    await gate.acquire(10.0)
    waiting = asyncio.create_task(gate.acquire(10.0))
    await asyncio.sleep(0)  # it queues
    clock.now += 0.5  # half a second in the queue
    gate.release(0.01)
    assert await waiting == clock.now


async def test_a_standing_queue_serves_the_newest_waiter_first() -> None:
    clock = Clock()
    waiters = Waiters(clock)
    (oldest,) = await waiters.start("oldest")
    clock.now += OVERLOAD_INTERVAL_S * 2  # someone has waited all this while: overloaded
    (newest,) = await waiters.start("newest")
    waiters.gate.release(0.01)
    await newest
    assert waiters.order == ["newest"]  # adaptive LIFO: the freshest request starts
    waiters.gate.release(0.01)
    await oldest
    assert waiters.order == ["newest", "oldest"]


async def test_a_new_waiter_in_a_standing_queue_waits_only_the_short_target() -> None:
    clock = Clock()
    gate = Admission(limit=1, max_wait_s=5.0, max_queue=5, clock=clock)
    await gate.acquire(10.0)
    first = asyncio.create_task(gate.acquire(10.0))
    await asyncio.sleep(0)
    clock.now += OVERLOAD_INTERVAL_S * 2
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Shed, match="at capacity"):
        await gate.acquire(10.0)
    # OVERLOADED_WAIT_S (plus scheduling), not the 5 s max_wait_s.
    assert loop.time() - started < 1.0
    assert not first.done()  # a burst's waiter keeps its own, longer wait
    gate.release(0.01)
    await first


async def test_a_standing_queue_never_lengthens_a_shorter_configured_wait() -> None:
    clock = Clock()
    gate = Admission(limit=1, max_wait_s=0.0, max_queue=5, clock=clock)
    await gate.acquire(10.0)
    gate._waiters.append(asyncio.get_running_loop().create_future())  # one standing waiter
    clock.now += OVERLOAD_INTERVAL_S * 2
    with pytest.raises(Shed):
        await gate.acquire(10.0)
    # No wait at all (refused up front), not OVERLOADED_WAIT_S.
    assert (gate.stats().shed_deadline, gate.stats().shed_full) == (1, 0)
