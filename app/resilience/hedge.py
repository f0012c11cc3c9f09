"""Hedged requests: when an attempt is slow, start another, take the first good answer.

"The Tail at Scale" (Dean and Barroso): a second copy of a request that has not answered
within about the 95th percentile of its latency cuts the tail for a few percent more calls.
The runner asks `may_hedge` before each extra attempt (idempotent call, breaker not half-open,
a rate-limit token free now, deadline not passed). Every attempt runs under the same deadline;
when one answers well the others are cancelled and awaited, so their connections are dropped
(a connection cancelled mid-answer is never reused) before the result is returned.
"""

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.resilience.clock import Clock
from app.resilience.deadline import Deadline, DeadlineExpired

# Latencies kept per provider for a percentile delay, and how many it needs first.
_SAMPLES = 200
_MIN_SAMPLES = 20
_RECOMPUTE_EVERY = 20


@dataclass(slots=True)
class Race:
    """What a hedged attempt returned: the outcome, attempts started, and which one won."""

    outcome: Any
    started: int
    winner: int | None


class HedgeDelay:
    """The wait before each extra attempt: fixed, or a percentile of recent latencies."""

    __slots__ = ("_cached", "_fixed_s", "_percentile", "_samples", "_since")

    def __init__(self, fixed_ms: int, percentile: float | None) -> None:
        self._fixed_s = fixed_ms / 1000
        self._percentile = percentile
        self._samples: deque[float] = deque(maxlen=_SAMPLES)
        self._cached = self._fixed_s
        self._since = 0

    def observe(self, seconds: float) -> None:
        """One successful attempt's latency (only kept when a percentile is asked for)."""
        if self._percentile is None:
            return
        self._samples.append(seconds)
        self._since += 1
        if len(self._samples) >= _MIN_SAMPLES and self._since >= _RECOMPUTE_EVERY:
            self._since = 0
            ordered = sorted(self._samples)
            rank = math.ceil(self._percentile / 100 * len(ordered)) - 1
            self._cached = ordered[max(rank, 0)]

    def seconds(self) -> float:
        return self._cached


async def _timed(
    attempt: Callable[[], Awaitable[Any]], limit: Deadline, clock: Clock, timed_out: Any
) -> tuple[Any, float]:
    started = clock.monotonic()
    try:
        outcome = await limit.run(attempt)
    except DeadlineExpired:
        outcome = timed_out()
    return outcome, clock.monotonic() - started


async def race(
    attempt: Callable[[], Awaitable[Any]],
    limit: Deadline,
    clock: Clock,
    delay: HedgeDelay,
    extra: int,
    may_hedge: Callable[[], bool],
    timed_out: Callable[[], Any],
    until: float,
) -> Race:
    """Run `attempt`, and up to `extra` more each `delay` later while it has no good answer.

    No attempt starts at or after `until` (the deadline, on `clock.monotonic()`). An outcome
    is good when its `kind` is None. Failures are waited out while another attempt
    runs; when all have failed, the last failure is returned (the retry policy then decides).
    """
    loop = asyncio.get_running_loop()
    running: dict[asyncio.Task[tuple[Any, float]], int] = {
        loop.create_task(_timed(attempt, limit, clock, timed_out)): 1
    }
    started = 1
    last: Any = None
    timer: asyncio.Task[None] | None = None
    try:
        while True:
            if timer is None and started <= extra:
                timer = loop.create_task(clock.sleep(delay.seconds()))
            waiting: set[asyncio.Future[Any]] = set(running)
            if timer is not None:
                waiting.add(timer)
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in running if t in done]:
                number = running.pop(task)
                outcome, elapsed = task.result()
                if outcome.kind is None:
                    delay.observe(elapsed)
                    return Race(outcome, started, number)
                last = outcome
            if not running:
                return Race(last, started, None)  # all failed: the retry policy decides
            if timer is not None and timer in done:
                timer = None
                if clock.monotonic() < until and may_hedge():
                    started += 1
                    running[loop.create_task(_timed(attempt, limit, clock, timed_out))] = started
                else:
                    extra = 0  # refused now, refused for this call: wait the running one out
    finally:
        leftovers: list[asyncio.Future[Any]] = list(running)
        if timer is not None:
            leftovers.append(timer)
        for leftover in leftovers:
            leftover.cancel()
        if leftovers:
            await asyncio.wait(leftovers)
