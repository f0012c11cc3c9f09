"""Interpreter settings for a long-running server: the cyclic garbage collector's schedule.

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
