"""Wait for a condition by polling with a bound, never by sleeping a fixed time."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 5.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; last value: {value!r}")
        time.sleep(0.01)
