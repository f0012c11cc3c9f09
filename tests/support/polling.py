"""Wait for a condition by polling with a bound, never by sleeping a fixed time.

`wait_until` and `wait_for` block the calling thread (call them from a thread, or through
`asyncio.to_thread` on the loop); `poll` awaits, so the loop runs the code being waited for.
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL_S = 0.005


def wait_until(
    condition: Callable[[], object], timeout_s: float = 15.0, what: str = "condition"
) -> None:
    """Return once `condition()` is true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        time.sleep(INTERVAL_S)


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 5.0) -> T:
    """Return the first value of `probe()` that `done` accepts; fail (showing the last value)
    after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; last value: {value!r}")
        time.sleep(INTERVAL_S)


async def poll(
    condition: Callable[[], object | Awaitable[object]],
    timeout_s: float = 10.0,
    what: str = "condition",
) -> None:
    """Return once `condition()` (a function or a coroutine function) is true; fail after
    `timeout_s`. Between checks the event loop runs."""
    deadline = time.monotonic() + timeout_s
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(INTERVAL_S)
