"""Adopting the slots no process holds: their journal and spool rows move into our spool.

Each process locks one slot (`spool.py`) and replays only its own files, so rows left by a dead
process used to wait for some later process to land on the same slot number: after scaling
from two workers to one, `calllog-1.*` was never replayed. Here any process takes every
unlocked slot that holds rows, copies them into its own spool (synced) and only then empties
the orphan's files. A crash between the two leaves the rows in both; the replay's
ignore-on-conflict insert stores them once.

Runs on the writer's coordinator thread (or before it starts): the only user of our spool.
"""

import fcntl
import logging
import os
import time
from pathlib import Path

from app.calllog.spool import Spool, SpoolFullError

logger = logging.getLogger(__name__)

_CHUNK_ROWS = 5000  # rows read from an orphan at a time, so a large spool is never all in memory
ADOPT_EVERY_S = 30.0  # how often a running process looks for slots of stopped ones


class PeriodicAdoption:
    """`adopt_orphans` at most every `every_s`; called on every turn of the coordinator."""

    def __init__(self, every_s: float = ADOPT_EVERY_S) -> None:
        self._every_s = every_s
        self._next = time.monotonic() + every_s

    def __call__(self, own: Spool) -> int:
        now = time.monotonic()
        if now < self._next:
            return 0
        self._next = now + self._every_s
        return adopt_orphans(own)


def adopt_orphans(own: Spool) -> int:
    """Move the rows of every unlocked slot next to `own` into it; returns the rows moved."""
    if own.path is None:
        return 0
    moved = 0
    for path in sorted(own.path.parent.glob("calllog-*.spool")):
        if path == own.path:
            continue
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live process holds it
        try:  # the lock is ours until `fd` closes
            moved += _adopt_slot(own, path)
        finally:
            os.close(fd)
    return moved


def _adopt_slot(own: Spool, spool_path: Path) -> int:
    moved = 0
    for path in (spool_path.with_suffix(".journal"), spool_path):
        if not path.exists() or path.stat().st_size == 0:
            continue
        orphan = Spool(path.parent, own.max_bytes)
        orphan.open_at(path)
        try:
            rows = 0
            while orphan.pending_rows:
                chunk = orphan.read_chunk(_CHUNK_ROWS)
                own.append(chunk.rows)
                orphan.mark_replayed(chunk)  # empties the file once all moved
                rows += len(chunk.rows)
            orphan.clear()  # a file holding only a torn tail
        except (SpoolFullError, OSError) as exc:
            logger.error(
                "call log: rows of the unlocked slot file %s cannot move to this process's "
                "spool (%s: %s); they stay there for a later try",
                path,
                type(exc).__name__,
                exc,
            )
            return moved
        finally:
            orphan.close()
        if rows:
            logger.warning(
                "call log: adopted %d rows a stopped process left in %s; they will be replayed",
                rows,
                path,
            )
        moved += rows
    return moved
