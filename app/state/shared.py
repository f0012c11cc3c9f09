"""`RedisState`: policy state in Redis, shared by every worker and replica that points at it.

What the tasks ask in one turn of the event loop (a fan-out's admissions for all its providers,
and any other fan-out's of that moment) is one run of the batch script (`scripts.py`): one
round trip, bounded by `REDIS_TIMEOUT_MS`. Past it, or on any Redis error, the worker switches
to an `InProcessState` with its share of each quota (divided by the live workers it last saw),
logs one WARNING, and tries Redis every `REDIS_RECONNECT_MS`; once Redis answers it logs one
WARNING more and shares again. A fan-out never waits on Redis longer than the bound.
"""

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.state.backend import CLOSED, STATES, Admission, BucketSpec, StateStatus
from app.state.memory import InProcessState
from app.state.scripts import BATCH

logger = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
# A worker that missed this many heartbeats no longer counts towards the shares.
_LIVE_WINDOW_S = 3 * HEARTBEAT_S
_FAILURES = (RedisError, OSError, TimeoutError)


class StateUnavailableError(Exception):
    """Redis did not answer this batch in time; the caller answers from local state."""


_Op = tuple[str, list[str], list[Any], "asyncio.Future[Any]"]
_Group = tuple[str, int, float, float]  # provider, probes, rate, burst
# A provider's admissions in this batch: [shortest max wait (us), how many, their answer].
_Pending = list[Any]


class RedisState:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout_s: float,
        reconnect_s: float,
        worker_id: str | None = None,
    ) -> None:
        self.redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # Our own bound and fallback replace retries: a retry would only add waiting.
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self.redis.register_script(BATCH)
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.reconnect_s = reconnect_s
        # Host and pid say where it runs; the suffix keeps two apps of one process apart.
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.degraded = False
        self.epoch = 0
        self.live_workers = 1
        self.fallbacks = 0
        self.local = InProcessState(epoch=0)
        # Set by observability: this worker's metrics, published with every heartbeat.
        self.publisher: Callable[[], bytes] | None = None
        self._pending: list[_Op] = []
        self._admits: dict[_Group, _Pending] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._maintainer: asyncio.Task[None] | None = None

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """First heartbeat (degraded at once if Redis is away), then keep beating."""
        await self._beat()
        self._maintainer = asyncio.create_task(self._maintain(), name="shared-state")

    async def close(self) -> None:
        if self._maintainer is not None:
            self._maintainer.cancel()
            await asyncio.gather(self._maintainer, return_exceptions=True)
        if not self.degraded:
            # Leave the live set now rather than when the window passes.
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(
                    self.redis.zrem(self.key("workers"), self.worker_id), self.timeout_s
                )
        await self.redis.aclose()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.reconnect_s if self.degraded else HEARTBEAT_S)
            await self._beat()

    async def _beat(self) -> None:
        keys: list[str] = [self.key("workers")]
        args: list[Any] = ["H", self.worker_id, _LIVE_WINDOW_S]
        if self.publisher is not None:
            text = await asyncio.to_thread(self.publisher)
            keys.append(self.key("metrics", self.worker_id))
            args += ["S", math.ceil(_LIVE_WINDOW_S * 1000), text]
        try:
            replies = await asyncio.wait_for(self._script(keys=keys, args=args), self.timeout_s)
        except _FAILURES as exc:
            self._degrade(exc)
            return
        self.live_workers = max(1, int(replies[0][0]))
        if self.degraded:
            self._restore()

    def _degrade(self, exc: BaseException) -> None:
        if self.degraded:
            return
        self.degraded = True
        self.fallbacks += 1
        self.epoch += 1
        self.local = InProcessState(share=self.live_workers, epoch=self.epoch)
        # The class only: a Redis error's text can carry the URL and its password.
        logger.warning(
            "shared state: Redis did not answer within %d ms (%s); this worker uses local state "
            "with 1/%d of each quota until Redis answers again",
            round(self.timeout_s * 1000),
            type(exc).__name__,
            self.local.share,
        )

    def _restore(self) -> None:
        self.degraded = False
        self.epoch += 1
        logger.warning("shared state: Redis answers again; quotas and breakers are shared again")

    # -- batching --------------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            # After every task that is ready now has run: they all join this batch.
            asyncio.get_running_loop().call_soon(self._flush)

    def _submit(self, op: str, keys: list[str], args: list[Any]) -> "asyncio.Future[Any]":
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, keys, args, future))
        self._schedule()
        return future

    def _flush(self) -> None:
        admits, self._admits = self._admits, {}
        batch, self._pending, self._scheduled = self._pending, [], False
        task = asyncio.get_running_loop().create_task(self._send(admits, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, admits: dict[_Group, _Pending], batch: list[_Op]) -> None:
        keys: list[str] = []
        args: list[Any] = []
        # A provider's admissions of the whole batch are one op with one answer: its keys are
        # read and written once, and each caller works out its own wait from the answer.
        for (name, probes, rate, burst), (max_wait_us, count, _) in admits.items():
            keys += [self.key("rl", name), self.key("br", name)]
            ttl_ms = math.ceil(burst / rate * 1000) + 60_000 if rate else 60_000
            args += ["A", probes, rate, burst, ttl_ms, count, max_wait_us]
        for op, op_keys, op_args, _ in batch:
            keys += op_keys
            args.append(op)
            args += op_args
        futures = [pending[2] for pending in admits.values()] + [f for *_, f in batch]
        try:
            if self.degraded:
                raise StateUnavailableError
            replies = await asyncio.wait_for(self._script(keys=keys, args=args), self.timeout_s)
        except (*_FAILURES, StateUnavailableError) as exc:
            self._degrade(exc)
            for future in futures:
                if not future.done():
                    future.set_exception(StateUnavailableError())
            return
        for pending, reply in zip(admits.values(), replies, strict=False):
            if not pending[2].done():
                pending[2].set_result(reply)
        for (*_, future), reply in zip(batch, replies[len(admits) :], strict=True):
            if not future.done():
                future.set_result(reply)

    async def _call(self, op: str, keys: list[str], args: list[Any]) -> Any:
        """One op in the next batch; raises `StateUnavailableError` when Redis is away."""
        if self.degraded:
            raise StateUnavailableError
        return await self._submit(op, keys, args)

    # -- StateBackend ----------------------------------------------------------------------

    async def admit(
        self, name: str, bucket: BucketSpec | None, probes: int, max_wait_s: float
    ) -> Admission:
        if self.degraded:
            return self.local.admit_now(name, bucket, probes, max_wait_s)
        epoch = self.epoch
        rate, burst = (bucket.rate, bucket.burst) if bucket is not None else (0.0, 0.0)
        group = (name, probes, rate, burst)
        wait_us = max(0, int(max_wait_s * 1e6))
        pending = self._admits.get(group)
        if pending is None:
            future = asyncio.get_running_loop().create_future()
            pending = self._admits[group] = [wait_us, 0, future]
        elif wait_us < pending[0]:
            # One fan-out's callers share a deadline to the millisecond: the batch waits no
            # longer than the most pressed of them may.
            pending[0] = wait_us
        index = pending[1]
        pending[1] += 1
        self._schedule()
        try:
            state, generation, passed, allowed, tokens_e6 = await pending[2]
        except StateUnavailableError:
            return self.local.admit_now(name, bucket, probes, max_wait_s)
        seen = STATES[state] if state >= 0 else None
        tokens = tokens_e6 / 1e6
        if index < allowed:
            wait = (index + 1 - tokens) / rate if rate else 0.0
            return Admission(True, seen, generation, wait if wait > 0 else 0.0, 0.0, epoch)
        if index >= passed:
            return Admission(False, seen, -1, 0.0, 0.0, epoch)
        retry_in = (1 - (tokens - allowed)) / rate
        return Admission(False, seen, -1, 0.0, retry_in, epoch, rate_limited=True)

    async def _breaker_op(
        self, op: str, name: str, admission: Admission, args: list[Any]
    ) -> str | None:
        if admission.epoch != self.epoch:
            return None  # admitted by the other backend: its generation means nothing here
        try:
            state, _ = await self._call(op, [self.key("br", name)], [admission.permit, *args])
        except StateUnavailableError:
            return None
        return STATES[state]

    async def trip(self, name: str, admission: Admission, open_s: float) -> str:
        if admission.epoch == self.epoch and self.degraded:
            return await self.local.trip(name, admission, open_s)
        return await self._breaker_op("T", name, admission, [open_s]) or CLOSED

    async def probe_outcome(
        self, name: str, admission: Admission, failed: bool, probes: int, open_s: float
    ) -> str:
        if admission.epoch == self.epoch and self.degraded:
            return await self.local.probe_outcome(name, admission, failed, probes, open_s)
        args = [int(failed), probes, open_s]
        return await self._breaker_op("P", name, admission, args) or CLOSED

    async def release(self, name: str, admission: Admission) -> None:
        if admission.epoch == self.epoch and self.degraded:
            await self.local.release(name, admission)
            return
        await self._breaker_op("R", name, admission, [])

    async def client_take(self, client: str, rate: float, burst: float) -> float:
        ttl_ms = math.ceil(burst / rate * 1000) + 60_000
        try:
            (wait_us,) = await self._call("C", [self.key("cl", client)], [rate, burst, ttl_ms])
        except StateUnavailableError:
            return self.local.client_take_now(client, rate, burst)
        return float(wait_us) / 1e6

    def status(self) -> StateStatus:
        if self.degraded:
            detail = (
                f"degraded: Redis does not answer; local state with 1/{self.local.share} of "
                "each quota, retrying"
            )
        else:
            detail = f"shared through Redis ({self.live_workers} live workers)"
        return StateStatus("redis", self.degraded, self.live_workers, self.fallbacks, detail)
