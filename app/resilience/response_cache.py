"""The response cache: stored answers per call key, fresh for a while, then only stand-ins.

An entry is *fresh* until `fresh_until` (served instead of a call, `cache: hit`) and *kept*
until `keep_until` (only shown beside an error, `stale: true`, the stale-if-error window). Times
are wall-clock seconds (`Clock.now()`), so a store shared by replicas means the same everywhere.

`CacheStore` is the interface; `MemoryStore` keeps entries in this process, least recently used
first out when the bytes it holds pass its bound.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

# What an entry costs beyond its key and JSON text: the entry, its tuple and dict slot.
_ENTRY_OVERHEAD = 200


@dataclass(slots=True, frozen=True)
class CacheEntry:
    data: dict[str, Any]  # as returned: validated and redacted
    status_code: int | None
    stored_at: float
    fresh_until: float
    keep_until: float


class CacheStore(Protocol):
    """Where entries live: this process (`MemoryStore`) or a store shared by replicas."""

    async def get(self, key: str, now: float) -> CacheEntry | None:
        """The entry under `key` if it is still kept at `now`."""
        ...

    async def put(self, key: str, entry: CacheEntry) -> None: ...


class MemoryStore:
    """An LRU bounded by the bytes of its entries (their JSON text, key and a fixed overhead)."""

    __slots__ = ("_entries", "bytes", "evictions", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._entries: OrderedDict[str, tuple[CacheEntry, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str, now: float) -> CacheEntry | None:
        found = self._entries.get(key)
        if found is None:
            return None
        entry = found[0]
        if now >= entry.keep_until:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def put(self, key: str, entry: CacheEntry) -> None:
        size = len(key) + len(orjson.dumps(entry.data)) + _ENTRY_OVERHEAD
        if key in self._entries:
            self._drop(key)
        if size > self.max_bytes:
            return  # larger than the whole cache: storing it would only empty the cache
        entries = self._entries
        entries[key] = (entry, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            oldest = next(iter(entries))
            self._drop(oldest)
            self.evictions += 1

    def _drop(self, key: str) -> None:
        _, size = self._entries.pop(key)
        self.bytes -= size


@dataclass(slots=True, frozen=True)
class Freshness:
    """How long an answer may be served (`fresh_s`) and whether it may be stored at all."""

    fresh_s: float
    storable: bool = True


NOT_STORABLE = Freshness(0.0, storable=False)


def freshness(
    ttl_s: float,
    respect_headers: bool,
    cache_control: str | None,
    expires_in_s: float | None,
) -> Freshness:
    """The policy's TTL, or what the upstream's `Cache-Control`/`Expires` say when respected.

    As a shared HTTP cache (RFC 9111): `no-store` and `private` forbid storing; `no-cache`
    stores (for stale-if-error) but never serves without a call; `s-maxage`, then `max-age`,
    then `Expires` give the freshness; without any of them the policy's TTL applies.
    """
    if not respect_headers:
        return Freshness(ttl_s)
    directives = _directives(cache_control) if cache_control else {}
    if "no-store" in directives or "private" in directives:
        return NOT_STORABLE
    if "no-cache" in directives:
        return Freshness(0.0)
    for name in ("s-maxage", "max-age"):
        if name in directives:
            seconds = _seconds(directives[name])
            return Freshness(seconds) if seconds is not None else Freshness(0.0)
    if expires_in_s is not None:
        return Freshness(max(expires_in_s, 0.0))
    return Freshness(ttl_s)


def _directives(header: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if name:
            found[name.lower()] = value.strip().strip('"') if sep else None
    return found


def _seconds(value: str | None) -> float | None:
    # RFC 9111 delta-seconds: ASCII digits only; an invalid value makes the answer stale.
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return float(min(int(value), 2**31))
