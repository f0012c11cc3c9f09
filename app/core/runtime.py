"""Process settings for a long-running server: the garbage collector's schedule, the
interpreter's switch interval, open files.

With Python's defaults the collector took about a quarter of the service's CPU under load
(`perf` on `bench/calllog_writer.py`): every full collection walks the whole start-up heap
(FastAPI, pydantic, SQLAlchemy: ~120,000 objects) though none of it ever becomes garbage, and
results held for a moment by the call-log queue survive young collections into the old
generation, which brings full collections sooner. Freezing the start-up heap takes it out of
every collection; a larger first threshold makes young collections rarer and each one still
small, since almost all garbage here is freed by reference counting first.
"""

import gc
import logging
import resource
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)


def tune_gc(*, freeze_startup_heap: bool, gen0_threshold: int) -> Callable[[], None]:
    """Call once start-up is done; returns the undo, for shutdown.

    `gen0_threshold=0` keeps the current schedule. Undoing matters where one process builds
    many apps (the tests): a frozen heap is never collected until unfrozen.
    """
    before = gc.get_threshold()
    if gen0_threshold:
        gc.set_threshold(gen0_threshold, before[1], before[2])
    if freeze_startup_heap:
        gc.collect()  # what start-up left as garbage goes now, not into the frozen heap
        gc.freeze()
    logger.debug(
        "gc: thresholds %s, %d start-up objects frozen", gc.get_threshold(), gc.get_freeze_count()
    )

    def undo() -> None:
        gc.set_threshold(*before)
        if freeze_startup_heap:
            gc.unfreeze()

    return undo


def tune_switch_interval(interval_ms: float) -> Callable[[], None]:
    """Let the event loop's thread take the interpreter back sooner; returns the undo.

    A thread that runs Python code (the call-log writer building a batch's parameters, a
    spool replay decoding records) keeps the interpreter until the switch interval passes:
    5 ms by default, which a request on the loop waits whole. With a 20 s table lock in
    strict mode, the replay afterwards raised fan-out p99 to 1.31-1.39x of before; at
    0.5 ms it was 1.00-1.10x (`bench/overload.py --parts lock`). `0` keeps the current one.
    """
    before = sys.getswitchinterval()
    if interval_ms:
        sys.setswitchinterval(interval_ms / 1000)

    def undo() -> None:
        sys.setswitchinterval(before)

    return undo


# Beyond the HTTP pool: the server's own sockets, database files, the spool, log streams.
OPEN_FILES_HEADROOM = 256


def ensure_open_files(pool_size: int) -> int:
    """Raise the soft open-file limit to what a full pool needs, up to the hard limit.

    Many systems start processes at a soft limit of 1024, below the default pool of 1000 plus
    the server's own files; past the limit every new connection fails (EMFILE). Raising the
    soft limit up to the hard one needs no privilege. Returns the limit now in force.
    """
    needed = pool_size + OPEN_FILES_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        logger.warning(
            "open-file limit is %d (hard limit), below the %d a pool of %d connections needs: "
            "calls past it fail as connection errors; raise `ulimit -n` or lower "
            "HTTP_MAX_CONNECTIONS",
            target,
            needed,
            pool_size,
        )
    return target
