"""A cap on in-flight calls per provider, so one slow upstream cannot hold the whole pool.

A call past the cap waits in arrival order for a free slot until its deadline, then fails as
`bulkhead_full`. The common case, a free slot, is a counter bump with no await (`try_enter`);
only a full bulkhead queues (`wait`).
"""

import asyncio
from collections import deque

from app.resilience.clock import SYSTEM_CLOCK, Clock


class Bulkhead:
    __slots__ = ("_clock", "_waiters", "in_flight", "limit")

    def __init__(self, limit: int, clock: Clock = SYSTEM_CLOCK) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.in_flight = 0
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Calls queued for a slot (some may have just given up)."""
        return len(self._waiters)

    def try_enter(self) -> bool:
        """Take a free slot at once, if there is one and nobody is queued before us."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self, deadline: float) -> bool:
        """True with a slot held (call `release` after), False when none freed in time."""
        if self.try_enter():
            return True
        remaining = deadline - self._clock.monotonic()
        if remaining <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(remaining):
                await waiter
        except TimeoutError:
            # Handed a slot just as time ran out: it is ours, keep it rather than leak it.
            return waiter.done() and not waiter.cancelled()
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return True

    def release(self) -> None:
        """Free a slot: hand it straight to the first waiter still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes over; in_flight stays
                return
        self.in_flight -= 1
