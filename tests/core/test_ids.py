"""Request and row ids stay unique across forked processes."""

import os

import pytest

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


def test_request_ids_look_like_uuid4_hex() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize("make", [new_request_id, new_log_id])
def test_a_forked_child_does_not_repeat_the_parents_ids(make: object) -> None:
    # A pre-forking server hands every worker the parent's generator state. Only the random
    # part is compared: a row id starts with the time, which moves on between the forks.
    children = {_in_child(make)[-19:] for _ in range(3)}
    parent = make()[-19:]  # type: ignore[operator]
    assert len(children) == 3 and parent not in children
