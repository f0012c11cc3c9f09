"""`Deadline`: one timer cancels every attempt still running when it passes."""

import asyncio

import pytest

from app.resilience import deadline as deadline_module
from app.resilience.deadline import Deadline, DeadlineExpired, shared_deadline
from tests.support.clock import FakeClock


async def test_the_deadline_cancels_every_running_attempt_and_nothing_else() -> None:
    deadline = Deadline.after(30)
    never = asyncio.Event()

    async def hang() -> str:
        await never.wait()
        return "late"

    async def quick() -> str:
        return "done"

    async def guarded(attempt: object) -> str:
        try:
            return await deadline.run(attempt)  # type: ignore[arg-type]
        except DeadlineExpired:
            return "expired"

    results = await asyncio.gather(guarded(hang), guarded(hang), guarded(quick))
    assert results == ["expired", "expired", "done"]
    assert deadline._handle is None  # disarmed once nothing runs under it


async def test_an_outside_cancellation_is_not_mistaken_for_the_deadline() -> None:
    deadline = Deadline.after(10_000)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(deadline.run(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_passed_deadline_refuses_at_once() -> None:
    clock = FakeClock()
    deadline = Deadline.after(100, clock)
    clock.advance(0.1)

    async def never_called() -> None:
        raise AssertionError("must not run")

    with pytest.raises(DeadlineExpired):
        await deadline.run(never_called)


def test_per_call_deadlines_of_calls_started_together_share_one() -> None:
    clock = FakeClock(start=1000.0001)  # just past a 5 ms grid line
    first = shared_deadline(800, clock)
    clock.advance(0.001)
    assert shared_deadline(800, clock) is first
    assert 0.8 <= first.at - 1000.0001 <= 0.805  # rounded up, at most 5 ms late
    assert shared_deadline(900, clock) is not first
    clock.advance(1)
    later = shared_deadline(800, clock)
    assert later is not first and later.at > first.at


def test_shared_deadlines_always_leave_the_whole_budget_and_one_is_kept_per_budget() -> None:
    clock = FakeClock(start=5000.0001)
    made: list[Deadline] = []
    for _ in range(3000):  # a call every 1 ms with a 4 s per-call budget
        deadline = shared_deadline(4000, clock)
        assert 4.0 <= deadline.at - clock.monotonic() < 4.005
        if not made or made[-1] is not deadline:
            made.append(deadline)
        clock.advance(0.001)
    assert 550 <= len(made) <= 650  # one per 5 ms slot: calls within a slot share it
    shared_deadline(600_000, clock)
    assert len([k for k in deadline_module._latest if k[1] is clock]) == 2
