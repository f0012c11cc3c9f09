"""Fewer upstream calls: one provider's response cache and the coalescing of identical calls.

`BaseApiProvider.execute` asks `Reuse.call` for every call when either is on:

1. a fresh cached answer for the same call key is served (`cache: hit`, no attempt);
2. else, an identical call in flight is joined (`coalesced: true`): each caller waits under
   its own deadline, and leaving (deadline or client gone) never cancels the shared call
   while another caller still waits for it;
3. else the call is made (the leg), its good answer stored for the policy's freshness and kept
   `stale_if_error_s` longer, and a failure shows a kept answer beside the error (`stale`).

Errors are shared with the callers of that moment, never stored. The key is a digest of what
the call sends: provider, method, endpoint and the values of the parameters it declares.
"""

import asyncio
import dataclasses
import hashlib
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import orjson

from app.core.errors import ErrorKind
from app.http import CallState
from app.resilience.clock import SYSTEM_CLOCK, Clock
from app.resilience.deadline import Deadline, DeadlineExpired, shared_deadline
from app.resilience.policy import ProviderPolicy
from app.resilience.response_cache import CacheEntry, CacheStore, freshness
from app.resilience.retry import IDEMPOTENT_METHODS
from app.resilience.runner import Outcome, RunResult
from app.security.redaction import redact_data

# Makes the call; `True` when other callers may join it (it then runs under the server's
# deadline, not a tighter one of the caller that started it).
CacheResult = Literal["hit", "miss", "stale"]
Leg = Callable[[bool], Awaitable[tuple[RunResult, CallState]]]


@dataclass(slots=True)
class Reused:
    """What `Reuse.call` returns: the run, its wire state, and how it was obtained."""

    run: RunResult
    state: CallState | None
    cache: CacheResult | None = None  # None when the provider does not cache
    coalesced: bool = False
    redacted: bool = False  # `data` came from the cache, already redacted


@dataclass(slots=True)
class ReuseCounters:
    """Per provider, since start: what `/metrics` and `/integrations/stats` show."""

    hit: int = 0
    miss: int = 0
    stale: int = 0
    coalesced: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "hit": self.hit,
            "miss": self.miss,
            "stale": self.stale,
            "coalesced": self.coalesced,
        }


def wants_store(policy: ProviderPolicy) -> bool:
    """Whether the policy caches or keeps answers (else coalescing at most: no store)."""
    return policy.cache_ttl_s > 0 or policy.cache_respect_headers or policy.stale_if_error_s > 0


def leg_deadline(
    deadline: Deadline | None, shared: bool, server_ms: int
) -> tuple[Deadline | None, float]:
    """The deadline a call runs under, and the time its waits and retries are planned for.

    A `shared` call (others may join it) started by a caller with a tighter deadline of its
    own runs to the server's deadline (`server_ms` from now), so that caller leaving ends only
    its wait; it still plans its retries for that caller, as that caller alone would have.
    """
    if shared and deadline is not None and not deadline.blames_upstream:
        return shared_deadline(server_ms), deadline.at
    return deadline, math.inf


class Reuse:
    """The response cache and coalescing of one provider."""

    def __init__(
        self,
        name: str,
        method: str,
        policy: ProviderPolicy,
        store: CacheStore | None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.method = method.upper()
        self._ttl_s = policy.cache_ttl_s
        self._respect = policy.cache_respect_headers
        self._stale_s = policy.stale_if_error_s
        self.caches = store is not None and (self._ttl_s > 0 or self._respect)
        self.keeps = store is not None and (self.caches or self._stale_s > 0)
        self.coalesces = policy.coalesce and self.method in IDEMPOTENT_METHODS
        self.active = self.keeps or self.coalesces
        self._store = store
        self._clock = clock
        self._in_flight: dict[str, asyncio.Task[tuple[RunResult, CallState]]] = {}
        self._waiters: dict[str, int] = {}
        self.counters = ReuseCounters()

    def key(self, endpoint: str, params: Mapping[str, Any], names: tuple[str, ...]) -> str:
        """A digest of what the call sends; no value (nor credential) readable from it."""
        sent = (self.name, self.method, endpoint, [[n, params.get(n)] for n in names])
        text = orjson.dumps(sent, default=str)
        return hashlib.blake2b(text, digest_size=16).hexdigest()

    async def call(self, key: str, leg: Leg, deadline: Deadline | None, bypass: bool) -> Reused:
        """Serve from the cache, join an identical call, or make it; see the module's steps."""
        store = self._store
        counters = self.counters
        if self.caches and not bypass and store is not None:
            now = self._clock.now().timestamp()
            entry = await store.get(key, now)
            if entry is not None and now < entry.fresh_until:
                counters.hit += 1
                outcome = Outcome(None, None, entry.data, entry.status_code)
                return Reused(RunResult(outcome, 0), None, "hit", redacted=True)
        coalesced = False
        if self.coalesces:
            coalesced, run, state = await self._shared(key, leg, deadline)
        else:
            run, state = await self._leg(key, leg, False)
        if coalesced:
            counters.coalesced += 1
        kind = run.outcome.kind
        # A kept answer was redacted once, by the leg, before it was stored (a static
        # fallback's value was not: `execute` redacts it).
        redacted = self.keeps and kind is None
        reused = Reused(run, state, "miss" if self.keeps else None, coalesced, redacted)
        if kind is None:
            if self.keeps:
                counters.miss += 1
        elif self.keeps and kind is not ErrorKind.VALIDATION_ERROR and store is not None:
            entry = await store.get(key, self._clock.now().timestamp())
            if entry is not None:
                run.outcome.data = entry.data
                run.stale = True
                reused.cache, reused.redacted = "stale", True
                counters.stale += 1
            else:
                counters.miss += 1
        elif self.keeps:
            counters.miss += 1
        return reused

    async def _shared(
        self, key: str, leg: Leg, deadline: Deadline | None
    ) -> tuple[bool, RunResult, CallState | None]:
        task = self._in_flight.get(key)
        joined = task is not None
        if task is None:
            task = asyncio.get_running_loop().create_task(self._leg(key, leg, True))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            if deadline is None or deadline.blames_upstream:
                # The server's deadline: the call itself ends then, and reports how it ended.
                run, state = await asyncio.shield(task)
            else:
                shared = task
                run, state = await deadline.run(lambda: asyncio.shield(shared))
        except DeadlineExpired:
            assert deadline is not None
            if not (task.done() and not task.cancelled()):
                timeout = Outcome(ErrorKind.TIMEOUT, deadline.timeout_message())
                return joined, RunResult(timeout, 0 if joined else 1), None
            # It ended as the deadline came, its answer not yet handed over: take it.
            run, state = task.result()
        finally:
            left = self._waiters[key] - 1
            if left:
                self._waiters[key] = left
            else:
                del self._waiters[key]
                if not task.done():
                    task.cancel()  # nobody waits for it any more
                    self._forget(key, task)  # and nobody may join it while it unwinds
        if joined:
            # A copy per caller: each result is its own (redaction, stale data, its own row).
            run = RunResult(
                dataclasses.replace(run.outcome),
                0,
                retry_at=run.retry_at,
                stale=run.stale,
                breaker_state=run.breaker_state,
                won_attempt=None,
            )
        return joined, run, state

    def _forget(self, key: str, done: "asyncio.Task[Any]") -> None:
        if self._in_flight.get(key) is done:
            del self._in_flight[key]

    async def _leg(self, key: str, leg: Leg, shared: bool) -> tuple[RunResult, CallState]:
        """Make the call; a good answer is redacted and stored once, whoever waits for it."""
        run, state = await leg(shared)
        outcome = run.outcome
        if self.keeps and outcome.kind is None and outcome.data is not None:
            outcome.data = redact_data(outcome.data)
            await self._store_answer(key, run, state)
        return run, state

    async def _store_answer(self, key: str, run: RunResult, state: CallState | None) -> None:
        store = self._store
        data = run.outcome.data
        if store is None or data is None:
            return
        headers = state.headers if state is not None else None
        fresh = freshness(
            self._ttl_s,
            self._respect,
            headers.get("cache-control") if headers is not None else None,
            _expires_in(headers) if self._respect and headers is not None else None,
        )
        if not fresh.storable:
            return
        now = self._clock.now().timestamp()
        fresh_until = now + (fresh.fresh_s if self.caches else 0.0)
        keep_until = fresh_until + self._stale_s
        if keep_until <= now:
            return  # neither served nor kept: nothing to store
        status = run.outcome.status_code or (state.status_code if state is not None else None)
        await store.put(key, CacheEntry(data, status, now, fresh_until, keep_until))


def _expires_in(headers: Any) -> float | None:
    """`Expires` minus `Date` (the upstream's own clock), as RFC 9111 computes it."""
    expires = headers.get("expires")
    if expires is None:
        return None
    try:
        at = parsedate_to_datetime(expires)
        date = headers.get("date")
        origin = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError, IndexError):
        return 0.0  # an invalid Expires means "already expired"
    if origin is None:
        origin = datetime.now(UTC)
    if at.tzinfo is None or origin.tzinfo is None:
        return 0.0
    return (at - origin).total_seconds()
