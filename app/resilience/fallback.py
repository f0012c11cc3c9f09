"""What a failed call may show besides its error when nothing better is cached: a static value.

The fallback never replaces the error: the result stays `success=false` with its
`error_kind`, and carries the fallback as `data` with `stale=true`. The last good answer
(stale-if-error) is the response cache's (`response_cache.py`, `app/integrations/reuse.py`),
which is preferred to this value when it holds one.
"""

from typing import Any


class Fallback:
    __slots__ = ("_static",)

    def __init__(self, *, static: dict[str, Any] | None = None) -> None:
        self._static = static

    def value(self) -> dict[str, Any] | None:
        return self._static
