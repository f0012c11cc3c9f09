"""The local spool: an append-only file of checksummed row batches, synced once per batch.

Record layout: a 16-byte header (magic, payload length, row count, CRC-32 of the payload), then
the payload (the batch's rows as JSON: `encode_rows`). A batch is acknowledged only after its
`fdatasync`, so a crash can tear only an unacknowledged tail; `open` cuts such a tail off before
appending.

Each process locks one slot file (`calllog-0.spool`, `calllog-1.spool`, ...) with `flock`, so
workers never share a file, and a restarted process takes the free slot a dead one left behind
(the kernel drops a dead process's lock) and replays it.

Strict mode's journal (`calllog-N.journal`, covered by its slot's lock) is a spool too, opened
with `open_at` and cleared after every flush; it syncs as the database syncs a commit
(`sync=False` on SQLite, whose WAL commits with synchronous=NORMAL do not sync either).
"""

import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from app.calllog.row import Row

logger = logging.getLogger(__name__)

_MAGIC = 0x43_4C_47_31  # "CLG1"
_HEADER = struct.Struct("<IIII")
_MAX_SLOTS = 256


class SpoolFullError(Exception):
    """Appending would pass the spool's byte cap."""


@dataclass(frozen=True, slots=True)
class SpoolChunk:
    rows: list[Row]
    end: int  # offset just past the chunk's last record


class Spool:
    """Single-threaded by design: only the writer's coordinator thread touches it."""

    def __init__(self, directory: Path, max_bytes: int, *, sync: bool = True) -> None:
        self._directory = directory
        self.max_bytes = max_bytes
        # False: an append survives a crash of the process but maybe not of the machine, as a
        # SQLite commit in WAL mode with synchronous=NORMAL (strict mode's journal on SQLite).
        self._sync = sync
        self._fd = -1
        self.path: Path | None = None
        self.size = 0
        self.rows = 0
        self._cursor = 0  # replayed up to here
        self._rows_before_cursor = 0

    def open(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for slot in range(_MAX_SLOTS):
            path = self._directory / f"calllog-{slot}.spool"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.path = fd, path
            self._recover()
            return
        raise RuntimeError(f"call log spool: all {_MAX_SLOTS} slots in {self._directory} locked")

    def open_at(self, path: Path) -> None:
        """Open `path` itself, with no lock of its own: a file of a slot `open` has locked."""
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.path = path
        self._recover()

    def clear(self) -> None:
        """Drop every record (their rows are durable elsewhere now)."""
        os.ftruncate(self._fd, 0)
        if self._sync:
            os.fsync(self._fd)
        self.size = self.rows = self._cursor = self._rows_before_cursor = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1

    @property
    def pending_rows(self) -> int:
        return self.rows - self._rows_before_cursor

    def append(self, rows: Sequence[Row]) -> None:
        """Append one batch and sync it; raises SpoolFullError or OSError, writing nothing."""
        payload = encode_rows(rows)
        record = _HEADER.pack(_MAGIC, len(payload), len(rows), zlib.crc32(payload)) + payload
        if self.size + len(record) > self.max_bytes:
            raise SpoolFullError(
                f"a {len(record)}-byte batch does not fit: {self.size} of {self.max_bytes} "
                "bytes used"
            )
        try:
            written = os.write(self._fd, record)
            if written != len(record):
                raise OSError(f"short write to the spool ({written} of {len(record)} bytes)")
            if self._sync:
                os.fdatasync(self._fd)
        except OSError:
            # Drop a partial record so the next append starts on a record boundary.
            os.ftruncate(self._fd, self.size)
            raise
        self.size += len(record)
        self.rows += len(rows)

    def read_chunk(self, max_rows: int) -> SpoolChunk:
        """Records from the replay cursor on: at least one, then up to `max_rows` rows."""
        rows: list[Row] = []
        offset = self._cursor
        while offset < self.size and (not rows or len(rows) < max_rows):
            header = os.pread(self._fd, _HEADER.size, offset)
            _, length, _, _ = _HEADER.unpack(header)
            rows.extend(decode_rows(os.pread(self._fd, length, offset + _HEADER.size)))
            offset += _HEADER.size + length
        return SpoolChunk(rows, offset)

    def mark_replayed(self, chunk: SpoolChunk) -> None:
        """Move the cursor past a chunk now in the database; truncate once all of it is."""
        if chunk.end >= self.size:
            # Truncate before any counter moves: stats() read on another thread must never
            # show an empty spool whose file still holds the rows.
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            self.size = self._cursor = self._rows_before_cursor = 0
            self.rows = 0  # last, so pending_rows never reads negative
            return
        self._rows_before_cursor += len(chunk.rows)
        self._cursor = chunk.end

    def _recover(self) -> None:
        """Count the valid records of a file left behind and cut off a torn tail."""
        end = os.fstat(self._fd).st_size
        offset = rows = 0
        while offset < end:
            header = os.pread(self._fd, _HEADER.size, offset)
            if len(header) < _HEADER.size:
                break
            magic, length, count, crc = _HEADER.unpack(header)
            payload = os.pread(self._fd, length, offset + _HEADER.size)
            if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
                break
            offset += _HEADER.size + length
            rows += count
        if offset < end:
            logger.warning(
                "call log spool %s: cut %d bytes of a torn or corrupt tail at offset %d "
                "(a batch that was never acknowledged)",
                self.path,
                end - offset,
                offset,
            )
            os.ftruncate(self._fd, offset)
            os.fsync(self._fd)
        self.size, self.rows = offset, rows
        if rows:
            logger.warning("call log spool %s holds %d rows to replay", self.path, rows)


def encode_rows(rows: Sequence[Row]) -> bytes:
    """A record's payload: the rows as one JSON array (datetimes as ISO 8601 text)."""
    return orjson.dumps(list(rows))


def decode_rows(payload: bytes) -> list[Row]:
    """The rows `encode_rows` wrote, `created_at` a datetime again."""
    rows: list[Row] = orjson.loads(payload)
    for row in rows:
        row["created_at"] = datetime.fromisoformat(row["created_at"])
        # Spooled before the column existed (0008): one batch may mix both.
        row.setdefault("trace_id", None)
    return rows
