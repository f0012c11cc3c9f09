"""Running `python -m app ...` in a child process from this checkout, bounded in time."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
# Must never appear in anything the command prints.
PASSWORD = "pw-Vb61sNq2Yt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unreachable_postgres() -> tuple[str, str]:
    """A URL with a password to a port nothing listens on, and how a log may show it."""
    port = free_port()
    return (
        f"postgresql://fanout:{PASSWORD}@127.0.0.1:{port}/calls",
        f"postgresql+psycopg://fanout:***@127.0.0.1:{port}/calls",
    )


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DEMO_"))}
    env |= {"LOG_SPOOL_DIR": str(tmp_path / "spool"), "SIMULATOR_ERROR_RATE": "0"}
    return env | values


def run(env: dict[str, str], *args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def log_lines(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines() if line.strip()]
