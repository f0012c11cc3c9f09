"""A circuit breaker per provider: closed, open, half-open.

* Closed: every call goes through; outcomes fill a count-based sliding window. Once the
  window holds at least `min_calls` outcomes and the failure share reaches `failure_rate`,
  the breaker opens.
* Open: no call goes through for `open_s`. The first call after that moves it to half-open.
* Half-open: exactly `probes` calls go through. Any failing probe re-opens it; when all
  probes succeed it closes with an empty window.

Every outcome is recorded against the permit it was given under, and an outcome of an older
state (a slow call that started before the breaker opened) is ignored, so probes are counted
exactly. A permit given up without an outcome (the call was cancelled) frees its probe slot.
"""

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from app.resilience.clock import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[[str, BreakerState, BreakerState], None]

# Called with (provider, old, new) on every transition of every breaker; observability
# appends its counter here. A listener that raises is logged and skipped.
BREAKER_STATE_LISTENERS: list[StateListener] = []


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    open_s: float = 30.0
    probes: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.window < 1 or self.probes < 1 or self.open_s < 0:
            raise ValueError("window and probes must be >= 1, open_s >= 0")
        if not 1 <= self.min_calls <= self.window:
            raise ValueError("min_calls must be between 1 and window")


class CircuitBreaker:
    __slots__ = (
        "_clock",
        "_failures",
        "_generation",
        "_open_until",
        "_probe_ok",
        "_probes_out",
        "_window",
        "config",
        "listeners",
        "name",
        "state",
    )

    def __init__(self, name: str, config: BreakerConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.listeners: list[StateListener] = []
        self._window: deque[bool] = deque(maxlen=config.window)  # True = failure
        self._failures = 0
        self._open_until = 0.0
        self._probes_out = 0
        self._probe_ok = 0
        self._generation = 0

    def acquire(self) -> int | None:
        """A permit (the state generation) when a call may go through, else None."""
        state = self.state
        if state is BreakerState.CLOSED:
            return self._generation
        if state is BreakerState.OPEN:
            if self._clock.monotonic() < self._open_until:
                return None
            self._transition(BreakerState.HALF_OPEN, "open duration over")
        if self._probes_out >= self.config.probes:
            return None
        self._probes_out += 1
        return self._generation

    def record(self, permit: int, failed: bool) -> None:
        """The outcome of a call made under `permit`."""
        if permit != self._generation:
            return
        if self.state is BreakerState.CLOSED:
            window = self._window
            if not failed and not self._failures:  # the common case: nothing can trip
                window.append(False)
                return
            if len(window) == window.maxlen and window[0]:
                self._failures -= 1
            window.append(failed)
            self._failures += failed
            calls = len(window)
            if (
                calls >= self.config.min_calls
                and self._failures >= self.config.failure_rate * calls
            ):
                self._open(f"{self._failures} of the last {calls} calls failed")
        elif self.state is BreakerState.HALF_OPEN:
            if failed:
                self._open("a half-open probe failed")
                return
            self._probe_ok += 1
            if self._probe_ok >= self.config.probes:
                self._transition(BreakerState.CLOSED, f"{self._probe_ok} probes succeeded")

    def release(self, permit: int) -> None:
        """A permitted call ended without an outcome (cancelled): free its probe slot."""
        if permit == self._generation and self.state is BreakerState.HALF_OPEN:
            self._probes_out -= 1

    def _open(self, reason: str) -> None:
        self._open_until = self._clock.monotonic() + self.config.open_s
        self._transition(BreakerState.OPEN, reason)

    def _transition(self, new: BreakerState, reason: str) -> None:
        old, self.state = self.state, new
        self._generation += 1
        self._window.clear()
        self._failures = 0
        self._probes_out = 0
        self._probe_ok = 0
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        logger.log(level, "circuit breaker %s: %s -> %s (%s)", self.name, old, new, reason)
        for listener in (*self.listeners, *BREAKER_STATE_LISTENERS):
            try:
                listener(self.name, old, new)
            except Exception:
                logger.exception("breaker state listener failed")
