"""Shared pieces of the call-log tests: results, a real TCP proxy, row checks, the CLI."""

import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from app.core.errors import ErrorKind
from app.integrations.schemas import ExternalResponse
from tests.support.ports import free_port
from tests.support.processes import child_env


def result(provider: str, ok: bool = True) -> ExternalResponse:
    return ExternalResponse(
        provider=provider,
        success=ok,
        data={"v": 1} if ok else None,
        error_message=None if ok else "upstream answered HTTP 503",
        response_time_ms=12.5,
        status_code=200 if ok else 503,
        error_kind=None if ok else ErrorKind.HTTP_STATUS,
        attempts=1 if ok else 2,
        started_at=datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC),
    )


def run_cli(database_url: str, *args: str) -> "subprocess.CompletedProcess[str]":
    """`python -m app ...` in a child process against `database_url`; asserts it succeeded."""
    # Run from an empty directory: a `.env` in the checkout must not reach the child.
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=cwd,
            env=child_env(DATABASE_URL=database_url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return done


def row_counts(url: str) -> tuple[int, int, dict[str, int]]:
    """(rows, distinct log ids, rows per request id) read straight from the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            total, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT log_id) FROM external_api_logs")
            ).one()
            per_request = {
                str(request_id): int(count)
                for request_id, count in conn.execute(
                    text("SELECT request_id, count(*) FROM external_api_logs GROUP BY request_id")
                ).all()
            }
    finally:
        engine.dispose()
    return int(total), int(distinct), per_request


def duplicated_calls(url: str) -> int:
    """Calls (request id, provider) present more than once."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT request_id, provider FROM external_api_logs "
                        "GROUP BY request_id, provider HAVING count(*) > 1) AS d"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


class TcpProxy:
    """A real TCP relay to PostgreSQL that can be cut (resets and refusals) and restored.

    Cutting closes the listener and every relayed connection, which is what the application
    sees when its PostgreSQL server stops: live sessions die, new connections are refused.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = free_port()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            # close() alone leaves a thread blocked in accept() listening (Linux): shutdown
            # wakes it, so the port really refuses connections from here on.
            _close(listener)
        for sock in sockets:
            _close(sock)

    restore = start

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    # Cut while this one was being connected: it must not outlive the cut
                    # (it did, once in CI, and the database stayed reachable through it).
                    _close(client)
                    _close(upstream)
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
