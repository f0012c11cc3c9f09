"""What a failed call may show besides its error: a static value or the last good answer.

The fallback never replaces the error: the result stays `success=false` with its
`error_kind`, and carries the fallback as `data` with `stale=true`. The cache keeps the last
good answer per key (the values of the parameters the provider declares, so Busan's weather
is never shown for Seoul), for `cache_ttl_s`, with at most `max_entries` keys.
"""

from collections.abc import Hashable, Mapping
from typing import Any

from app.resilience.clock import SYSTEM_CLOCK, Clock


def cache_key(params: Mapping[str, Any], names: tuple[str, ...]) -> Hashable:
    """The values of the parameters `names` in `params`: what a provider's answer depends on."""
    # The same line twice: in the first branch mypyc knows a dict (what the manager passes) and
    # reads it directly, where `Mapping.get` is a lookup by name per parameter (50 ns a call).
    if isinstance(params, dict):
        key = tuple([params.get(name) for name in names])
    else:
        key = tuple([params.get(name) for name in names])
    try:
        hash(key)
    except TypeError:  # a list or dict value: its text is the key
        return tuple([str(value) for value in key])
    return key


class Fallback:
    __slots__ = ("_clock", "_entries", "_max_entries", "_static", "_ttl_s", "caches")

    def __init__(
        self,
        *,
        static: dict[str, Any] | None = None,
        cache_ttl_s: float | None = None,
        max_entries: int = 256,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._static = static
        self._ttl_s = cache_ttl_s
        self._max_entries = max_entries
        self.caches = cache_ttl_s is not None
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, dict[str, Any]]] = {}

    def remember(self, key: Hashable, data: dict[str, Any]) -> None:
        """Keep a successful, validated answer (only when the cache is on)."""
        if not self.caches:
            return
        entries = self._entries
        # A plain dict keeps insertion order: re-inserting makes the key the newest, and
        # the oldest (least recently stored) goes first when the cache is full.
        entries.pop(key, None)
        entries[key] = (self._clock.monotonic(), data)
        if len(entries) > self._max_entries:
            del entries[next(iter(entries))]

    def value(self, key: Hashable) -> dict[str, Any] | None:
        if self._static is not None:
            return self._static
        entry = self._entries.get(key)
        if entry is None or self._ttl_s is None:
            return None
        stored_at, data = entry
        if self._clock.monotonic() - stored_at > self._ttl_s:
            del self._entries[key]
            return None
        return data
