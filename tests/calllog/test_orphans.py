"""Adopting unlocked slots: their journal and spool rows move into ours; a held slot is left."""

from pathlib import Path

from app.calllog.orphans import adopt_orphans
from app.calllog.spool import Spool
from tests.calllog.test_spool import rows


def _slot(directory: Path, journal_rows: int, spool_rows: int) -> Spool:
    """A slot as a process leaves it: its spool (locked while open) and journal."""
    spool = Spool(directory, 1 << 20)
    spool.open()
    assert spool.path is not None
    if spool_rows:
        spool.append(rows(spool_rows, f"spooled-{spool.path.name}"))
    journal = Spool(directory, 1 << 20)
    journal.open_at(spool.path.with_suffix(".journal"))
    if journal_rows:
        journal.append(rows(journal_rows, f"journaled-{spool.path.name}"))
    journal.close()
    return spool


def test_rows_of_unlocked_slots_move_and_a_held_slot_is_left(tmp_path: Path) -> None:
    dead_0 = _slot(tmp_path, journal_rows=2, spool_rows=3)  # calllog-0
    alive = _slot(tmp_path, journal_rows=1, spool_rows=1)  # calllog-1, its process still up
    dead_2 = _slot(tmp_path, journal_rows=4, spool_rows=0)  # calllog-2
    dead_0.close()
    dead_2.close()  # the kernel drops a dead process's lock the same way

    ours = Spool(tmp_path, 1 << 20)
    ours.open()  # takes the first free slot: calllog-0, with its own 3 spooled rows
    assert ours.path == tmp_path / "calllog-0.spool" and ours.pending_rows == 3

    assert adopt_orphans(ours) == 4  # calllog-2's journal; calllog-0's journal is not ours
    assert ours.pending_rows == 3 + 4
    assert (tmp_path / "calllog-2.journal").stat().st_size == 0
    assert (tmp_path / "calllog-1.journal").stat().st_size > 0  # held: untouched
    assert alive.pending_rows == 1 and (tmp_path / "calllog-1.spool").stat().st_size > 0
    replayed = {row["request_id"] for row in ours.read_chunk(100).rows}
    assert replayed == {"spooled-calllog-0.spool", "journaled-calllog-2.spool"}
    assert adopt_orphans(ours) == 0  # nothing left to adopt
    alive.close()
    ours.close()


def test_an_adopted_spool_keeps_every_row_when_ours_is_full(tmp_path: Path) -> None:
    ours = Spool(tmp_path, max_bytes=200)  # calllog-0, too small for the orphan's batch
    ours.open()
    dead = _slot(tmp_path, journal_rows=0, spool_rows=50)  # calllog-1
    dead.close()
    assert adopt_orphans(ours) == 0
    orphan = Spool(tmp_path, 1 << 20)
    orphan.open()  # the next process to look finds every row still there
    assert orphan.path == tmp_path / "calllog-1.spool" and orphan.pending_rows == 50
    orphan.close()
    ours.close()
