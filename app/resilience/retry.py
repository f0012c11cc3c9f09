"""Retry decisions: exponential backoff with full jitter, `Retry-After`, and the deadline.

The loop itself lives in `runner.py`; this module only answers "wait how long, or stop?" so it
is easy to test on a fake clock. A retry is never started when it cannot finish before the
deadline: the wait plus the duration of the attempt just made (the best guess of the next
one) must fit.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# The longest wait a `Retry-After` is taken for: "now + that" must stay a date (an upstream
# sent 1000000000000, past the year 9999), and a year is already "not within this call".
MAX_RETRY_AFTER_S = 365 * 86_400.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    retries: int = 2  # attempts after the first
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0
    non_idempotent: bool = False  # a provider whose POST is safe to repeat opts in

    def allows(self, method: str) -> bool:
        return self.retries > 0 and (self.non_idempotent or method.upper() in IDEMPOTENT_METHODS)


def backoff_s(config: RetryConfig, retry_number: int, rng: random.Random) -> float:
    """Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2**(n-1))]."""
    ceiling = min(config.max_delay_s, config.base_delay_s * (2 ** (retry_number - 1)))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or HTTP-date), else None.

    At most `MAX_RETRY_AFTER_S`.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():  # not "²", which isdigit() but float() refuses
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """`wait_s` is set when a retry goes ahead; `retry_after_s` when the upstream asked."""

    wait_s: float | None
    retry_after_s: float | None = None
    past_deadline: bool = False  # the upstream's Retry-After points past our deadline


def decide(
    config: RetryConfig,
    retry_number: int,
    *,
    now: float,
    deadline: float,
    last_attempt_s: float,
    retry_after_s: float | None,
    rng: random.Random,
) -> RetryDecision:
    """Whether retry number `retry_number` (1-based) may start, and after how long."""
    if retry_after_s is not None and now + retry_after_s > deadline:
        return RetryDecision(None, retry_after_s, past_deadline=True)
    if retry_number > config.retries:
        return RetryDecision(None, retry_after_s)
    wait = backoff_s(config, retry_number, rng)
    if retry_after_s is not None:
        wait = max(wait, retry_after_s)
    if now + wait + last_attempt_s > deadline:
        return RetryDecision(None, retry_after_s)
    return RetryDecision(wait, retry_after_s)
