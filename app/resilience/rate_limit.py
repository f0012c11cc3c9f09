"""Outbound token bucket per provider: a call waits for a token within its deadline, or fails.

A call reserves its token at once (the bucket may go into debt), so concurrent callers queue
in arrival order and each knows its wait up front: when the token cannot come before the
deadline the call is refused at once as `rate_limited`, without waiting in vain. We do not use
aiolimiter: its `acquire()` waits without a deadline, on the loop's clock, and cannot say in
advance how long the wait will be.
"""

from app.resilience.clock import SYSTEM_CLOCK, Clock


class TokenBucket:
    __slots__ = ("_clock", "_tokens", "_updated", "burst", "rate", "waited_s", "waits")

    def __init__(self, rate_per_s: float, burst: int, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)  # a float, as every token count: mypyc keeps them unboxed
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock.monotonic()
        # Calls that waited for a token, and for how long in all: read by the metrics.
        self.waits = 0
        self.waited_s = 0.0

    def reserve(self, deadline: float) -> float | None:
        """Take a token: the seconds to wait for it, or None (nothing taken) past `deadline`."""
        now = self._clock.monotonic()
        tokens = self._tokens + (now - self._updated) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self._updated = now
        # Every call passes here: plain comparisons, no min() or conditional expression.
        wait = 0.0
        if tokens < 1:
            wait = (1 - tokens) / self.rate
        if now + wait > deadline:
            self._tokens = tokens
            return None
        self._tokens = tokens - 1
        if wait > 0:
            self.waits += 1
            self.waited_s += wait
        return wait

    def wait_for_next(self) -> float:
        """Seconds until a token would be free, for `retry_at`."""
        now = self._clock.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def refund(self) -> None:
        """Give back a reserved token whose call never went out (cancelled while waiting)."""
        self._tokens = min(self.burst, self._tokens + 1)
