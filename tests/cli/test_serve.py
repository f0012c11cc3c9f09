"""`python -m app serve` in a real child process: help, an unreachable database, a busy port.

Every child runs from the repository root, so it imports this checkout's `app`, and is
bounded in time.
"""

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.cli.helpers import (
    PASSWORD,
    ROOT,
    environment,
    free_port,
    log_lines,
    run,
    unreachable_postgres,
)
from tests.support.polling import wait_until
from tests.support.processes import answers_health


def test_help_describes_host_port_and_workers_with_defaults(tmp_path: Path) -> None:
    done = run(environment(tmp_path), "serve", "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # argparse wraps lines
    assert "--host HOST address to listen on" in text
    assert "(default: 127.0.0.1)" in text
    assert "--port PORT TCP port to listen on (default: 8000)" in text
    assert "--workers WORKERS worker processes" in text
    assert "(default: 1)" in text


def test_an_unreachable_database_to_migrate_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url, shown = unreachable_postgres()
    done = run(environment(tmp_path, DATABASE_URL=url), "serve", "--port", str(free_port()))
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert PASSWORD not in output
    assert "Traceback" not in output
    errors = [line for line in log_lines(done.stderr) if line["level"] == "ERROR"]
    assert len(errors) == 1, output
    message = errors[0]["msg"]
    assert f"the database at {shown} could not be reached" in message
    assert "check that it is running and that DATABASE_URL points at it" in message
    assert "DB_AUTO_MIGRATE=false" in message


def test_a_port_in_use_says_how_to_choose_another(tmp_path: Path) -> None:
    database = tmp_path / "calls.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = environment(tmp_path, DATABASE_URL=f"sqlite:///{database}")
        done = run(env, "serve", "--port", str(port))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in log_lines(done.stderr) if line["level"] == "ERROR"]
    assert [e["msg"] for e in errors] == [
        f"cannot listen on 127.0.0.1 port {port}: another process listens there: stop it, "
        "or choose another port with --port"
    ]
    assert not database.exists()  # refused before migrating anything


def test_without_migrations_it_serves_while_the_database_is_down(tmp_path: Path) -> None:
    url, _ = unreachable_postgres()
    port = free_port()
    env = environment(tmp_path, DATABASE_URL=url, DB_AUTO_MIGRATE="false")
    env["SIMULATOR_LATENCY_SCALE"] = "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            return answers_health(base)

        wait_until(up, timeout_s=30, what="the service answering /healthz")
        fetched = httpx.get(f"{base}/integrations/fetch", params={"providers": "weather"})
        assert fetched.status_code == 200
        assert fetched.json()["summary"]["succeeded"] == 1
        logs = httpx.get(f"{base}/integrations/logs")
        assert (logs.status_code, logs.headers["retry-after"]) == (503, "5")
        assert PASSWORD not in logs.text
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Running upgrade" not in output
    assert PASSWORD not in output
