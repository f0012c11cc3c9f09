"""The questions a policy asks its state, whichever process or machine keeps it.

Breaker states are the strings of `app.resilience.breaker.BreakerState` (this package sits
below resilience and cannot import it). A permit is the breaker's generation when the call was
admitted, tagged with the backend's epoch: an outcome reported against an older generation or
epoch (the breaker moved on, or the backend switched between Redis and local) is ignored.
"""

from dataclasses import dataclass
from typing import Protocol

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Index = the integer a Lua script returns for a state.
STATES = (CLOSED, OPEN, HALF_OPEN)


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    rate: float
    burst: float


# Not frozen: one is made per call, and a frozen dataclass's __init__ costs twice as much.
@dataclass(slots=True)
class Admission:
    """The answer to "may this call go out, and when?"."""

    allowed: bool
    breaker: str | None  # the breaker state seen; None: the provider has no breaker
    permit: int  # the breaker generation the call runs under (-1: no breaker slot taken)
    wait_s: float  # allowed: how long to wait for the token first
    retry_in_s: float  # refused by the bucket: seconds until a token would be free
    epoch: int
    rate_limited: bool = False  # refused by the bucket (not by the breaker)


@dataclass(frozen=True, slots=True)
class StateStatus:
    """What `/readyz` and `/metrics` say about the state."""

    backend: str  # "process" or "redis"
    degraded: bool  # Redis configured but not answering: local state with a share
    live_workers: int
    fallbacks: int  # transitions to local state since start
    detail: str


class StateBackend(Protocol):
    """One implementation per place the state lives. Every method is bounded in time."""

    async def admit(
        self, name: str, bucket: BucketSpec | None, probes: int, max_wait_s: float
    ) -> Admission:
        """Check the breaker (`probes` 0: none), then take a token (debt allowed) if the wait
        fits in `max_wait_s`. A refusal by the bucket gives back a half-open probe slot."""
        ...

    async def trip(self, name: str, admission: Admission, open_s: float) -> str:
        """The caller's window of outcomes tripped: open the breaker (if still at the permit's
        generation) for `open_s`. Returns the state after."""
        ...

    async def probe_outcome(
        self, name: str, admission: Admission, failed: bool, probes: int, open_s: float
    ) -> str:
        """A half-open probe ended: a failure re-opens, `probes` successes close."""
        ...

    async def release(self, name: str, admission: Admission) -> None:
        """A permitted call ended without an outcome: free its half-open probe slot."""
        ...

    async def client_take(self, client: str, rate: float, burst: float) -> float:
        """One token of a client's limit: 0 when allowed, else seconds until one is free."""
        ...

    def status(self) -> StateStatus: ...
