"""`RedisStore`: the response cache in Redis, shared by every worker and replica (REDIS_URL).

An entry is one key, `<prefix>:cache:<call key>`, holding the entry as JSON and expiring with
it (Redis's `EX` at the end of its stale-if-error window). Bounding the bytes is Redis's job:
run it with `maxmemory` and `maxmemory-policy allkeys-lru` (or `volatile-lru`).

Redis is a cache here, never a dependency: an operation that fails or takes longer than
`timeout_ms` is a miss (or a store skipped), and for `reconnect_ms` afterwards the store is not
asked at all, so a Redis that is down costs each call nothing but a comparison.
"""

import asyncio
import logging
import math
import time
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.resilience.response_cache import CacheEntry

logger = logging.getLogger(__name__)


class RedisStore:
    def __init__(self, client: Redis, prefix: str, *, timeout_ms: int, reconnect_ms: int) -> None:
        self._client = client
        self._prefix = f"{prefix}:cache:"
        self._timeout_s = timeout_ms / 1000
        self._reconnect_s = reconnect_ms / 1000
        self._down_until = 0.0  # on time.monotonic(): skip Redis until then
        self.failures = 0

    @classmethod
    def from_url(cls, url: str, prefix: str, *, timeout_ms: int, reconnect_ms: int) -> "RedisStore":
        timeout_s = timeout_ms / 1000
        client = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, prefix, timeout_ms=timeout_ms, reconnect_ms=reconnect_ms)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, key: str, now: float) -> CacheEntry | None:
        raw = await self._call(self._client.get(self._prefix + key))
        if not isinstance(raw, bytes):
            return None
        try:
            data, status, stored_at, fresh_until, keep_until = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None  # not ours, or another version's: a miss
        if now >= keep_until:
            return None
        return CacheEntry(data, status, stored_at, fresh_until, keep_until)

    async def put(self, key: str, entry: CacheEntry) -> None:
        ttl_s = max(math.ceil(entry.keep_until - entry.stored_at), 1)
        value = orjson.dumps(
            [entry.data, entry.status_code, entry.stored_at, entry.fresh_until, entry.keep_until]
        )
        await self._call(self._client.set(self._prefix + key, value, ex=ttl_s))

    async def _call(self, operation: Any) -> Any:
        if time.monotonic() < self._down_until:
            operation.close()  # never awaited: close the coroutine
            return None
        try:
            return await asyncio.wait_for(operation, self._timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failures += 1
            self._down_until = time.monotonic() + self._reconnect_s
            logger.warning(
                "response cache: Redis unavailable (%s); calls go to the upstreams for %g s",
                type(exc).__name__,
                self._reconnect_s,
            )
            return None
