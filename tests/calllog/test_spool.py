"""The spool file: checksummed records, torn tails, per-process slots, the cap."""

import os
from pathlib import Path

import pytest

from app.calllog.row import to_row
from app.calllog.spool import Spool, SpoolFullError
from tests.calllog.helpers import result


def rows(n: int, request_id: str = "req") -> list[dict[str, object]]:
    return [to_row(request_id, result(f"p{i}")) for i in range(n)]


def test_append_read_and_replay_truncate(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.open()
    first, second = rows(3, "r1"), rows(2, "r2")
    spool.append(first)
    spool.append(second)
    assert spool.pending_rows == 5
    chunk = spool.read_chunk(max_rows=3)  # whole records only: the first one
    assert [r["log_id"] for r in chunk.rows] == [r["log_id"] for r in first]
    assert chunk.rows[0]["created_at"] == first[0]["created_at"]
    spool.mark_replayed(chunk)
    assert spool.pending_rows == 2 and spool.size > 0
    spool.mark_replayed(spool.read_chunk(max_rows=100))
    assert (spool.pending_rows, spool.size) == (0, 0)
    assert spool.path is not None and spool.path.stat().st_size == 0
    spool.close()


def test_the_gauge_says_empty_only_once_the_file_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stats() reads pending_rows from another thread: it must not reach 0 while the file
    # still holds the replayed rows (a reader saw "empty" and a 1145-byte file).
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.open()
    spool.append(rows(2))
    spool.append(rows(1))
    seen_at_truncate: list[int] = []
    real_ftruncate = os.ftruncate

    def watching_ftruncate(fd: int, length: int) -> None:
        seen_at_truncate.append(spool.pending_rows)
        real_ftruncate(fd, length)

    monkeypatch.setattr(os, "ftruncate", watching_ftruncate)
    spool.mark_replayed(spool.read_chunk(max_rows=2))
    assert seen_at_truncate == [] and spool.pending_rows == 1
    spool.mark_replayed(spool.read_chunk(max_rows=2))
    assert seen_at_truncate == [1] and spool.pending_rows == 0
    spool.close()


@pytest.mark.parametrize("damage", ["torn", "bad_checksum"])
def test_reopen_keeps_whole_records_and_cuts_a_damaged_tail(tmp_path: Path, damage: str) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.open()
    kept = rows(2)
    spool.append(kept)
    good_size = spool.size
    spool.append(rows(3))
    assert spool.path is not None
    path = spool.path
    spool.close()
    data = path.read_bytes()
    if damage == "torn":  # a crash in the middle of the second write
        path.write_bytes(data[: good_size + 20])
    else:
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    reopened.open()
    assert reopened.path == path
    assert (reopened.pending_rows, reopened.size, path.stat().st_size) == (2, good_size, good_size)
    assert [r["log_id"] for r in reopened.read_chunk(10).rows] == [r["log_id"] for r in kept]
    reopened.append(rows(1))  # appends continue on a record boundary
    reopened.close()
    again = Spool(tmp_path, max_bytes=1 << 20)
    again.open()
    assert again.pending_rows == 3
    again.close()


def test_each_process_locks_its_own_slot_and_a_freed_slot_is_reused(tmp_path: Path) -> None:
    first, second = Spool(tmp_path, 1 << 20), Spool(tmp_path, 1 << 20)
    first.open()
    second.open()
    assert first.path != second.path
    first.append(rows(1))
    first.close()
    third = Spool(tmp_path, 1 << 20)
    third.open()  # takes the slot the first left behind, with its rows
    assert (third.path, third.pending_rows) == (first.path, 1)
    second.close()
    third.close()


def test_cap_refuses_a_batch_whole(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2000)
    spool.open()
    spool.append(rows(1))
    size = spool.size
    with pytest.raises(SpoolFullError):
        spool.append(rows(20))
    assert spool.size == size and spool.pending_rows == 1
    assert spool.path is not None and os.path.getsize(spool.path) == size
    spool.close()
