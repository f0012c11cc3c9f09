"""The time source of every policy, injectable so tests run breakers and retries without sleeping
(`tests/support/clock.py` has the tests' clock).

Deadlines are absolute `monotonic()` values of the clock that made them.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks and `asyncio.sleep`."""

    __slots__ = ()

    # The builtin itself, not a method around it: policies read it several times a call.
    monotonic = staticmethod(time.monotonic)

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
