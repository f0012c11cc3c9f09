"""`SharedPolicyRunner`: `PolicyRunner`'s contract, with breaker and quota in a backend.

Used when `REDIS_URL` is set. One call to `StateBackend.admit` checks the breaker and takes
the token (for a fan-out, `RedisState` sends all of its providers' admissions in one round
trip); then an inner `PolicyRunner` without breaker, bucket or fallback applies the deadline,
the bulkhead, the retries and hedging, which stay per process. A hedge is never sent while the
shared breaker is half-open, nor for a provider with an outbound rate limit: its token would
need a round trip at the moment of the hedge, and a hedge that waits is no longer early. The
response cache (kept answers for stale-if-error too) is shared through its own Redis store
(`app.resilience.redis_store`), above the runner.

The breaker's state (open until, half-open probes, generation) is shared; the window of
outcomes that decides to trip is each worker's own. Sharing the window would cost a Redis
write per call for a decision that only matters once per outage: with N workers each fills its
window N times slower, and the first to trip opens the breaker for all (`min_calls` counts
per worker). Half-open probes, and what their outcomes decide, are shared exactly.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from app.core.errors import ErrorKind, is_technical
from app.resilience.breaker import BREAKER_STATE_LISTENERS, BreakerConfig, BreakerState
from app.resilience.clock import SYSTEM_CLOCK, Clock
from app.resilience.deadline import Deadline
from app.resilience.policy import ProviderPolicy
from app.resilience.runner import Attempt, Outcome, PolicyRunner, RunResult
from app.state import Admission, BucketSpec, StateBackend

logger = logging.getLogger(__name__)
_NEVER = float("inf")


class BreakerView:
    """The shared breaker's state as this worker last saw it (what metrics and stats read)."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = BreakerState.CLOSED


class _Window:
    """This worker's count-based window of outcomes for one closed period of the breaker."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.period = (-1, -1)  # (epoch, generation) of the closed period it counts
        self.outcomes: deque[bool] = deque(maxlen=config.window)
        self.failures = 0

    def record(self, period: tuple[int, int], failed: bool) -> str | None:
        """Count an outcome; the reason to trip when the window says so."""
        outcomes = self.outcomes
        if period != self.period:
            if period < self.period:
                return None  # a call of an older closed period
            self.period = period
            outcomes.clear()
            self.failures = 0
        if not failed and not self.failures:  # the common case: nothing can trip
            outcomes.append(False)
            return None
        if len(outcomes) == outcomes.maxlen and outcomes[0]:
            self.failures -= 1
        outcomes.append(failed)
        self.failures += failed
        calls = len(outcomes)
        if calls >= self.config.min_calls and self.failures >= self.config.failure_rate * calls:
            failures, self.failures = self.failures, 0
            outcomes.clear()
            return f"{failures} of this worker's last {calls} calls failed"
        return None


class SharedPolicyRunner:
    def __init__(
        self,
        name: str,
        policy: ProviderPolicy,
        method: str = "GET",
        *,
        state: StateBackend,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.policy = policy
        self.state = state
        self.clock = clock
        own = {"breaker_enabled": False, "rate_limit_per_s": None, "fallback": "none"}
        self.inner = PolicyRunner(name, policy.model_copy(update=own), method, clock=clock)
        self._bucket = (
            BucketSpec(policy.rate_limit_per_s, policy.rate_limit_burst)
            if policy.rate_limit_per_s
            else None
        )
        self._config = policy.breaker_config() if policy.breaker_enabled else None
        self._probes = self._config.probes if self._config else 0
        self._window = _Window(self._config) if self._config else None
        self.breaker = BreakerView() if self._config else None
        self._tasks: set[asyncio.Task[None]] = set()
        self.inner.may_hedge = self._may_hedge

    async def run(
        self, attempt: Attempt, request_deadline: Deadline | None, plan_at: float = _NEVER
    ) -> RunResult:
        """Apply the policies around `attempt`, as `PolicyRunner.run` does."""
        deadline = self.inner.deadline(request_deadline)
        # A token is the deployment's: one taken for a call that then has no time left to go
        # out is lost to every worker. Waiting at most half the budget leaves the other half.
        max_wait = (deadline.at - self.clock.monotonic()) / 2
        admission = await self.state.admit(self.name, self._bucket, self._probes, max_wait)
        self._saw(admission.breaker, "seen at admission")
        if not admission.allowed:
            if admission.rate_limited:
                rate = self.policy.rate_limit_per_s or 0.0
                message = f"outbound rate limit of {rate:g}/s: no token before the deadline"
                retry_at = self.clock.now() + timedelta(seconds=admission.retry_in_s)
                result = RunResult(Outcome(ErrorKind.RATE_LIMITED, message), 0, retry_at)
            else:
                message = "circuit breaker open: call not made"
                result = RunResult(Outcome(ErrorKind.CIRCUIT_OPEN, message), 0)
            result.breaker_state = self.breaker.state if self.breaker else None
            return self._finish(result)
        try:
            if admission.wait_s > 0:
                await self.clock.sleep(admission.wait_s)
            # The inner runner's bulkhead and retries: what its `run` does without breaker,
            # bucket or fallback, one coroutine fewer a call.
            result = await self.inner._guarded(attempt, deadline, plan_at)
        except BaseException:
            if admission.breaker == BreakerState.HALF_OPEN:
                self._later(self.state.release(self.name, admission))
            raise
        if self.breaker is not None:
            if admission.breaker == BreakerState.CLOSED and result.outcome.kind is None:
                # The common case, without a coroutine: a success in the closed state.
                window = self._window
                assert window is not None
                window.record((admission.epoch, admission.permit), False)
            else:
                await self._outcome(admission, result, deadline)
            result.breaker_state = self.breaker.state
        if self.policy.fallback == "none":
            return result
        return self._finish(result)

    async def _outcome(self, admission: Admission, result: RunResult, deadline: Deadline) -> None:
        outcome = result.outcome
        config, window = self._config, self._window
        assert config is not None
        assert window is not None
        not_counted = outcome.kind is ErrorKind.TIMEOUT and not deadline.blames_upstream
        if not_counted or not result.attempts:
            if admission.breaker == BreakerState.HALF_OPEN:
                await self.state.release(self.name, admission)
            return
        failed = outcome.kind is not None and is_technical(outcome.kind, outcome.status_code)
        if admission.breaker == BreakerState.HALF_OPEN:
            state = await self.state.probe_outcome(
                self.name, admission, failed, config.probes, config.open_s
            )
            self._saw(state, "a half-open probe failed" if failed else "probes succeeded")
        elif admission.breaker == BreakerState.CLOSED:
            reason = window.record((admission.epoch, admission.permit), failed)
            if reason is not None:
                state = await self.state.trip(self.name, admission, config.open_s)
                self._saw(state, reason)

    def _saw(self, state: str | None, reason: str) -> None:
        view = self.breaker
        if view is None or state is None or state == view.state:
            return
        old, view.state = view.state, BreakerState(state)
        level = logging.WARNING if view.state is BreakerState.OPEN else logging.INFO
        logger.log(
            level, "circuit breaker %s (shared): %s -> %s (%s)", self.name, old, state, reason
        )
        for listener in BREAKER_STATE_LISTENERS:
            try:
                listener(self.name, old, view.state)
            except Exception:
                logger.exception("breaker state listener failed")

    def _may_hedge(self) -> bool:
        view = self.breaker
        if view is not None and view.state is BreakerState.HALF_OPEN:
            return False
        return self._bucket is None

    def _finish(self, result: RunResult) -> RunResult:
        """The static fallback, as `PolicyRunner` applies it."""
        policy, kind = self.policy, result.outcome.kind
        if (
            policy.fallback == "static"
            and kind is not None
            and kind is not ErrorKind.VALIDATION_ERROR
        ):
            result.outcome.data = policy.fallback_value
            result.stale = True
        return result

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after a cancelled call, without holding the cancellation up."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
