"""The queue between the event loop and the coordinator: how a batch closes."""

import threading
import time

from app.calllog.intake import Entry, Intake
from tests.calllog.helpers import result
from tests.support.polling import wait_until


def test_a_batch_closes_as_soon_as_it_is_full_not_at_the_end_of_its_window() -> None:
    intake = Intake(max_rows=1000)
    taken: list[list[Entry]] = []
    taker = threading.Thread(
        target=lambda: taken.append(intake.take(12, window_s=600, idle_timeout_s=None)),
        daemon=True,  # should the test fail, it cannot hold the run for the window
    )
    taker.start()
    intake.put_fast("req-0", [result(f"p{i}") for i in range(4)])
    wait_until(lambda: intake.filling_to == 12)  # the taker waits for 8 more rows
    intake.put_fast("req-1", [result(f"p{i}") for i in range(4)])
    assert taker.is_alive()  # 8 rows: still filling
    intake.put_fast("req-2", [result(f"p{i}") for i in range(4)])
    taker.join(timeout=20)  # far less than the 600 s window
    assert not taker.is_alive()
    assert [entry.request_id for entry in taken[0]] == ["req-0", "req-1", "req-2"]
    assert (intake.rows, intake.filling_to) == (0, 0)


def test_a_partial_batch_waits_out_its_window() -> None:
    intake = Intake(max_rows=1000)
    intake.put_fast("req-0", [result(f"p{i}") for i in range(4)])
    started = time.monotonic()
    batch = intake.take(12, window_s=0.05, idle_timeout_s=None)
    # 4 rows of 12: nothing closes the batch early, so it comes back at the window's end.
    assert time.monotonic() - started >= 0.05
    assert [entry.request_id for entry in batch] == ["req-0"]
