"""`PolicyRunner`: one provider's policies, applied around every call in a fixed order.

    breaker check -> token bucket -> bulkhead -> [attempt (+ hedges) under the deadline,
    retry?]* -> breaker outcome -> static fallback

Refusals (`circuit_open`, `rate_limited`, `bulkhead_full`) make no network call and are not
counted by the breaker. Each attempt runs under the deadline's timer (`deadline.py`): httpx's
timeouts are per read, so only this ends an upstream that drips bytes. Hedged attempts
(`hedge.py`) count as attempts; the response cache and coalescing sit above the runner
(`app/integrations/reuse.py`).
"""

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.errors import ErrorKind, is_retryable, is_technical
from app.resilience.breaker import BreakerState, CircuitBreaker
from app.resilience.bulkhead import Bulkhead
from app.resilience.clock import SYSTEM_CLOCK, Clock
from app.resilience.deadline import NO_DEADLINE, Deadline, DeadlineExpired, shared_deadline
from app.resilience.fallback import Fallback
from app.resilience.hedge import HedgeDelay, race
from app.resilience.policy import ProviderPolicy
from app.resilience.rate_limit import TokenBucket
from app.resilience.retry import IDEMPOTENT_METHODS, decide, parse_retry_after


@dataclass(slots=True)
class Outcome:
    """One attempt's result, as the template method mapped it."""

    kind: ErrorKind | None = None
    message: str | None = None
    data: dict[str, Any] | None = None
    status_code: int | None = None
    retry_after: str | None = None  # the raw header of a 429/503


@dataclass(slots=True)
class RunResult:
    outcome: Outcome
    attempts: int
    retry_at: datetime | None = None
    stale: bool = False
    breaker_state: BreakerState | None = None
    won_attempt: int | None = None  # which attempt (1-based, hedges included) answered well


Attempt = Callable[[], Awaitable[Outcome]]
_NEVER = float("inf")


class PolicyRunner:
    def __init__(
        self,
        name: str,
        policy: ProviderPolicy,
        method: str = "GET",
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self._rng = rng or random.Random()  # jitter only, nothing secret
        self._call_timeout_ms = policy.call_timeout_ms
        self._retry = policy.retry_config()
        self._retries = self._retry.allows(method)
        self.breaker = (
            CircuitBreaker(name, policy.breaker_config(), clock) if policy.breaker_enabled else None
        )
        self.bucket = (
            TokenBucket(policy.rate_limit_per_s, policy.rate_limit_burst, clock)
            if policy.rate_limit_per_s
            else None
        )
        self.bulkhead = Bulkhead(policy.max_concurrency, clock) if policy.max_concurrency else None
        self.fallback: Fallback | None = None
        if policy.fallback == "static":
            self.fallback = Fallback(static=policy.fallback_value)
        # Hedging only ever repeats idempotent calls, whatever the policy says.
        self.hedge_delay: HedgeDelay | None = None
        if policy.hedge_after_ms is not None and method.upper() in IDEMPOTENT_METHODS:
            self.hedge_delay = HedgeDelay(policy.hedge_after_ms, policy.hedge_after_percentile)
        self._hedge_max = policy.hedge_max
        # Asked before each hedge; `SharedPolicyRunner` puts its own (shared breaker and quota).
        self.may_hedge: Callable[[], bool] = self._may_hedge

    def deadline(self, request_deadline: Deadline | None) -> Deadline:
        """The earlier of the request's deadline and this provider's per-call deadline."""
        call_timeout_ms = self._call_timeout_ms
        if call_timeout_ms is not None:
            own = shared_deadline(call_timeout_ms, self.clock)
            if request_deadline is None or own.at < request_deadline.at:
                return own
        return request_deadline or NO_DEADLINE

    async def run(
        self, attempt: Attempt, request_deadline: Deadline | None, plan_at: float = _NEVER
    ) -> RunResult:
        """Apply the policies around `attempt`.

        `plan_at`, when earlier than the deadline, is what waits and retries are planned
        against (a call shared by callers runs to the server's deadline, but plans for the
        one that started it, as that caller alone would have), without ending attempts.
        """
        if self._call_timeout_ms is None and request_deadline is not None:
            deadline = request_deadline  # `self.deadline`, minus a call, for the usual case
        else:
            deadline = self.deadline(request_deadline)
        breaker = self.breaker
        permit = None
        if breaker is not None:
            permit = breaker.acquire()
            if permit is None:
                refused = Outcome(ErrorKind.CIRCUIT_OPEN, "circuit breaker open: call not made")
                refusal = RunResult(refused, 0, breaker_state=breaker.state)
                return self._finish(refusal)
        try:
            result = await self._guarded(attempt, deadline, plan_at)
        except BaseException:
            if permit is not None and breaker is not None:
                breaker.release(permit)
            raise
        if breaker is not None and permit is not None:
            outcome = result.outcome
            if outcome.kind is ErrorKind.TIMEOUT and not deadline.blames_upstream:
                breaker.release(permit)  # the client's own tight deadline, not the upstream
            elif result.attempts:
                failed = outcome.kind is not None and is_technical(
                    outcome.kind, outcome.status_code
                )
                breaker.record(permit, failed)
            else:
                breaker.release(permit)
            result.breaker_state = breaker.state
        if self.fallback is None:
            return result
        return self._finish(result)

    async def _guarded(self, attempt: Attempt, limit: Deadline, plan_at: float) -> RunResult:
        deadline = limit.at
        if plan_at < deadline:
            deadline = plan_at
        bucket = self.bucket
        if bucket is not None:
            wait = bucket.reserve(deadline)
            if wait is None:
                retry_at = self.clock.now() + timedelta(seconds=bucket.wait_for_next())
                refused = Outcome(
                    ErrorKind.RATE_LIMITED,
                    f"outbound rate limit of {bucket.rate:g}/s: no token before the deadline",
                )
                return RunResult(refused, 0, retry_at=retry_at)
            if wait > 0:
                try:
                    await self.clock.sleep(wait)
                except BaseException:
                    bucket.refund()
                    raise
        bulkhead = self.bulkhead
        if bulkhead is None:
            return await self._with_retries(attempt, limit, deadline)
        if not bulkhead.try_enter() and not await bulkhead.acquire(deadline):
            message = f"{bulkhead.limit} calls already in flight until the deadline"
            return RunResult(Outcome(ErrorKind.BULKHEAD_FULL, message), 0)
        try:
            return await self._with_retries(attempt, limit, deadline)
        finally:
            bulkhead.release()

    async def _with_retries(self, attempt: Attempt, limit: Deadline, deadline: float) -> RunResult:
        """Attempts under `limit`; retries planned to end by `deadline` (at most `limit.at`)."""
        clock = self.clock
        attempts = 0  # every attempt sent, hedges included
        tries = 0  # what the retry policy counts: hedged attempts are one try
        hedge_delay = self.hedge_delay
        while True:
            tries += 1
            started = clock.monotonic()
            if hedge_delay is None:
                attempts += 1
                won = attempts
                try:
                    outcome = await limit.run(attempt)
                except DeadlineExpired:
                    outcome = Outcome(ErrorKind.TIMEOUT, limit.timeout_message())
            else:
                hedged = await race(
                    attempt,
                    limit,
                    clock,
                    hedge_delay,
                    self._hedge_max,
                    self.may_hedge,
                    lambda: Outcome(ErrorKind.TIMEOUT, limit.timeout_message()),
                    deadline,
                )
                outcome = hedged.outcome
                won = attempts + (hedged.winner or 0)
                attempts += hedged.started
            if outcome.kind is None:
                return RunResult(outcome, attempts, won_attempt=won)
            retry_after_s = None
            if outcome.retry_after is not None and outcome.status_code in (429, 503):
                retry_after_s = parse_retry_after(outcome.retry_after, clock.now())
            retryable = self._retries and is_retryable(outcome.kind, outcome.status_code)
            if not retryable and retry_after_s is None:
                return RunResult(outcome, attempts)
            now = clock.monotonic()
            if retryable:
                decision = decide(
                    self._retry,
                    tries,
                    now=now,
                    deadline=deadline,
                    last_attempt_s=now - started,
                    retry_after_s=retry_after_s,
                    rng=self._rng,
                )
                wait, past_deadline = decision.wait_s, decision.past_deadline
            else:
                wait, past_deadline = (
                    None,
                    retry_after_s is not None and now + retry_after_s > deadline,
                )
            if wait is None:
                retry_at = None
                if retry_after_s is not None:
                    retry_at = clock.now() + timedelta(seconds=retry_after_s)
                if past_deadline:
                    outcome.kind = ErrorKind.RATE_LIMITED
                    outcome.message = (
                        f"upstream answered HTTP {outcome.status_code} and asked to retry after "
                        f"{retry_after_s:g} s, past the deadline"
                    )
                return RunResult(outcome, attempts, retry_at=retry_at)
            await clock.sleep(wait)

    def _may_hedge(self) -> bool:
        """Another attempt now: never while half-open, and only with a rate-limit token."""
        breaker = self.breaker
        if breaker is not None and breaker.state is BreakerState.HALF_OPEN:
            return False
        bucket = self.bucket
        # A token free now, or no hedge: a hedge that waits for one is no longer early.
        return bucket is None or bucket.reserve(self.clock.monotonic()) is not None

    def _finish(self, result: RunResult) -> RunResult:
        fallback = self.fallback
        if fallback is None:
            return result
        outcome = result.outcome
        if outcome.kind is not None and outcome.kind is not ErrorKind.VALIDATION_ERROR:
            outcome.data = fallback.value()
            result.stale = True
        return result
