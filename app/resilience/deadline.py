"""`Deadline`: an absolute time that cancels the attempts still running when it passes.

`asyncio.timeout` costs one timer per call (about 10 us with uvloop, most of the policies'
CPU budget). A fan-out's calls share the request's deadline, so they share one timer: each
attempt registers its task while it runs, and when the time comes the one timer cancels the
registered tasks, which turn the cancellation into a `timeout` result (`run`). The timer is
armed while some attempt runs and disarmed when none does.
"""

import asyncio
import asyncio.tasks
import math
import types
from asyncio import current_task, get_running_loop
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.resilience.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")
_NEVER = math.inf
# Python 3.11's `asyncio.current_task` is a Python function around this dict (the running task
# of each loop); read directly, a frame less per attempt. Where `current_task` is built in
# (3.12 on), it is called as it is.
_RUNNING_TASKS: dict[Any, Any] | None = (
    getattr(asyncio.tasks, "_current_tasks", None)
    if isinstance(current_task, types.FunctionType)
    else None
)


class DeadlineExpired(Exception):
    """Raised by `Deadline.run` when the deadline cancelled the attempt."""


class Deadline:
    __slots__ = ("_cancelled", "_clock", "_handle", "_tasks", "at", "blames_upstream", "budget_ms")

    def __init__(
        self,
        at: float,
        budget_ms: int,
        clock: Clock = SYSTEM_CLOCK,
        *,
        blames_upstream: bool = True,
    ) -> None:
        self.at = at  # on `clock.monotonic()`
        self.budget_ms = budget_ms
        # False when a client chose a tighter deadline than ours: running out of it says
        # nothing about the upstream, so circuit breakers do not count it.
        self.blames_upstream = blames_upstream
        self._clock = clock
        self._tasks: set[asyncio.Task[object]] = set()
        self._cancelled: set[asyncio.Task[object]] | None = None  # made when it expires
        self._handle: asyncio.TimerHandle | None = None

    @classmethod
    def after(
        cls, budget_ms: int, clock: Clock = SYSTEM_CLOCK, *, blames_upstream: bool = True
    ) -> "Deadline":
        at = clock.monotonic() + budget_ms / 1000
        return cls(at, budget_ms, clock, blames_upstream=blames_upstream)

    def timeout_message(self) -> str:
        return f"no complete answer within the deadline of {self.budget_ms} ms"

    def remaining(self) -> float:
        return self.at - self._clock.monotonic()

    async def run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Await `attempt()`; raise `DeadlineExpired` if the deadline cuts it short."""
        at = self.at
        if at == _NEVER:
            return await attempt()
        remaining = at - self._clock.monotonic()
        if remaining <= 0:
            raise DeadlineExpired
        tasks_by_loop = _RUNNING_TASKS
        task: asyncio.Task[object] | None = (
            current_task() if tasks_by_loop is None else tasks_by_loop.get(get_running_loop())
        )
        if task is None:  # pragma: no cover - always inside a task under asyncio
            return await attempt()
        tasks = self._tasks
        if not tasks:
            self._handle = get_running_loop().call_later(remaining, self._expire)
        tasks.add(task)
        try:
            return await attempt()
        except asyncio.CancelledError:
            cancelled = self._cancelled
            if cancelled is not None and task in cancelled and task.uncancel() == 0:
                raise DeadlineExpired from None
            raise
        finally:
            tasks.discard(task)
            if self._cancelled is not None:
                self._cancelled.discard(task)
            if not tasks and self._handle is not None:
                self._handle.cancel()
                self._handle = None

    def _expire(self) -> None:
        self._handle = None
        cancelled = self._cancelled = self._cancelled or set()
        for task in self._tasks:
            if not task.done():
                cancelled.add(task)
                task.cancel()


NO_DEADLINE = Deadline(math.inf, 0)


# Per-call deadlines of calls that start together (a fan-out) share a timer: each is rounded up
# to this grid, at most this much late. Time only moves forward, so the newest deadline of a
# budget is the only one a new call can share; one is kept per budget and clock.
_GRID_S = 0.005
_MAX_KEPT = 1024
_latest: dict[tuple[int, Clock], Deadline] = {}


def shared_deadline(budget_ms: int, clock: Clock = SYSTEM_CLOCK) -> Deadline:
    """A per-call deadline `budget_ms` from now (up to 5 ms later), shared with its peers."""
    now = clock.monotonic()
    budget_s = budget_ms / 1000
    key = (budget_ms, clock)
    latest = _latest.get(key)
    # Still leaving the whole budget, it lies on the grid slot a new one would get.
    if latest is not None and latest.at - now >= budget_s:
        return latest
    if len(_latest) >= _MAX_KEPT:  # budgets are a handful; clocks come and go in tests
        _latest.clear()
    slot = math.ceil((now + budget_s) / _GRID_S)
    deadline = _latest[key] = Deadline(slot * _GRID_S, budget_ms, clock)
    return deadline
