"""One daemon thread that runs database writes, so the coordinator can stop waiting on one.

A commit stuck behind a lock keeps only this thread busy; the coordinator spools the batch after
its bound and carries on. Daemon, unlike `ThreadPoolExecutor`'s threads, so a database that
never answers cannot keep the process from exiting. A write's failure comes back in its future;
`describe_db_error` turns it into a line fit for the log.
"""

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from app.security.redaction import redact_text

_Job = tuple[Future[None], Callable[[], None]]


class DbWorker:
    def __init__(self, on_done: Callable[[], None]) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._on_done = on_done
        self._thread = threading.Thread(target=self._run, name="calllog-db", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, fn: Callable[..., None], *args: Any) -> Future[None]:
        future: Future[None] = Future()
        self._jobs.put((future, lambda: fn(*args)))
        return future

    def stop(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                fn()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)
            self._on_done()


def describe_db_error(exc: BaseException) -> str:
    """One line about a database failure: the driver's message, never SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).strip().splitlines() or [""])[0][:200]
    return redact_text(f"{type(orig).__name__}: {first_line}")
