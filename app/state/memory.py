"""`InProcessState`: the `StateBackend` questions answered from this process's memory.

The same rules as the Lua script of `shared.py`, so a worker that falls back to it while Redis
is away behaves as the deployment did, scaled to its `share`: each bucket's rate and burst are
divided by the number of workers it last saw alive, so together they stay near the quota.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

from app.state.backend import CLOSED, HALF_OPEN, OPEN, Admission, BucketSpec, StateStatus

_MAX_KEYS = 10_000  # client buckets; the least recently used go first


class _Breaker:
    __slots__ = ("generation", "ok", "open_until", "out", "state")

    def __init__(self) -> None:
        self.state = CLOSED
        self.generation = 0
        self.open_until = 0.0
        self.out = 0
        self.ok = 0

    def move(self, state: str) -> None:
        self.state = state
        self.generation += 1
        self.out = 0
        self.ok = 0


class InProcessState:
    """Buckets, breakers and client limits in this process, touched only by its loop."""

    def __init__(
        self, *, share: int = 1, epoch: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.share = max(1, share)
        self.epoch = epoch
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # [tokens, updated]
        self._breakers: dict[str, _Breaker] = {}

    # -- buckets ---------------------------------------------------------------------------

    def _refill(self, key: str, spec: BucketSpec, now: float) -> list[float]:
        rate, burst = spec.rate / self.share, max(1.0, spec.burst / self.share)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [burst, now]
            if len(self._buckets) > _MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(burst, bucket[0] + max(0.0, now - bucket[1]) * rate)
            bucket[1] = now
        return bucket

    # -- StateBackend ----------------------------------------------------------------------

    async def admit(
        self, name: str, bucket: BucketSpec | None, probes: int, max_wait_s: float
    ) -> Admission:
        return self.admit_now(name, bucket, probes, max_wait_s)

    def admit_now(
        self, name: str, bucket: BucketSpec | None, probes: int, max_wait_s: float
    ) -> Admission:
        """`admit` without the await, for `RedisState`'s fallback path."""
        now = self._clock()
        state: str | None = None
        permit = -1
        breaker = None
        if probes:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = self._breakers[name] = _Breaker()
            if breaker.state == OPEN:
                if now < breaker.open_until:
                    return Admission(False, OPEN, -1, 0.0, 0.0, self.epoch)
                breaker.move(HALF_OPEN)
            if breaker.state == HALF_OPEN:
                if breaker.out >= probes:
                    return Admission(False, HALF_OPEN, -1, 0.0, 0.0, self.epoch)
                breaker.out += 1
            state, permit = breaker.state, breaker.generation
        wait = 0.0
        if bucket is not None:
            tokens = self._refill(f"p:{name}", bucket, now)
            rate = bucket.rate / self.share
            if tokens[0] < 1:
                wait = (1 - tokens[0]) / rate
            if wait > max_wait_s:
                if breaker is not None and state == HALF_OPEN:
                    breaker.out -= 1
                return Admission(False, state, -1, 0.0, wait, self.epoch, rate_limited=True)
            tokens[0] -= 1
        return Admission(True, state, permit, wait, 0.0, self.epoch)

    async def trip(self, name: str, admission: Admission, open_s: float) -> str:
        breaker = self._breakers.get(name)
        if breaker is None or admission.epoch != self.epoch:
            return CLOSED if breaker is None else breaker.state
        if breaker.generation == admission.permit and breaker.state == CLOSED:
            breaker.move(OPEN)
            breaker.open_until = self._clock() + open_s
        return breaker.state

    async def probe_outcome(
        self, name: str, admission: Admission, failed: bool, probes: int, open_s: float
    ) -> str:
        breaker = self._breakers.get(name)
        if breaker is None or admission.epoch != self.epoch:
            return CLOSED if breaker is None else breaker.state
        if breaker.generation == admission.permit and breaker.state == HALF_OPEN:
            if failed:
                breaker.move(OPEN)
                breaker.open_until = self._clock() + open_s
            else:
                breaker.ok += 1
                if breaker.ok >= probes:
                    breaker.move(CLOSED)
        return breaker.state

    async def release(self, name: str, admission: Admission) -> None:
        breaker = self._breakers.get(name)
        if (
            breaker is not None
            and admission.epoch == self.epoch
            and breaker.generation == admission.permit
            and breaker.state == HALF_OPEN
            and breaker.out > 0
        ):
            breaker.out -= 1

    async def client_take(self, client: str, rate: float, burst: float) -> float:
        return self.client_take_now(client, rate, burst)

    def client_take_now(self, client: str, rate: float, burst: float) -> float:
        tokens = self._refill(f"c:{client}", BucketSpec(rate, burst), self._clock())
        if tokens[0] >= 1:
            tokens[0] -= 1
            return 0.0
        return (1 - tokens[0]) / (rate / self.share)

    def status(self) -> StateStatus:
        return StateStatus("process", False, 1, 0, "in this process (REDIS_URL unset)")
