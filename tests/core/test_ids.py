"""Request and row ids: UUIDv7-laid-out hex that sorts by creation time, unique across forks."""

import os
import time
from types import SimpleNamespace

import pytest

from app.core import ids
from app.core.ids import new_log_id, new_request_id


def _in_child(make: object) -> str:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, make().encode())  # type: ignore[operator]
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        return pipe.read()


def test_an_id_is_32_hex_digits_of_the_time_in_ms_then_version_7() -> None:
    before = time.time_ns() // 1_000_000
    made = {new_request_id() for _ in range(1000)}
    after = time.time_ns() // 1_000_000
    assert len(made) == 1000
    for made_id in made:
        assert len(made_id) == 32 and set(made_id) <= set("0123456789abcdef")
        assert before <= int(made_id[:12], 16) <= after  # the first 48 bits: Unix time in ms
        assert made_id[12] == "7"  # the version nibble of the UUIDv7 layout


def test_ids_made_later_sort_later(monkeypatch: pytest.MonkeyPatch) -> None:
    # One id per millisecond of a stepped clock: the random bits must never reorder them.
    millis = iter(range(1_764_000_000_000, 1_764_000_000_500))
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: next(millis) * 1_000_000))
    made = [ids.time_ordered_id() for _ in range(500)]
    assert sorted(made) == made
    assert len(set(made)) == 500


@pytest.mark.parametrize("make", [new_request_id, new_log_id])
def test_a_forked_child_does_not_repeat_the_parents_ids(make: object) -> None:
    # A pre-forking server hands every worker the parent's generator state. Only the random
    # part is compared: a row id starts with the time, which moves on between the forks.
    children = {_in_child(make)[-19:] for _ in range(3)}
    parent = make()[-19:]  # type: ignore[operator]
    assert len(children) == 3 and parent not in children
