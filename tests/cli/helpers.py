"""Running `python -m app ...` in a child process from this checkout, bounded in time."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.support.ports import free_port
from tests.support.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
# Must never appear in anything the command prints.
PASSWORD = "pw-Vb61sNq2Yt"


def unreachable_postgres() -> tuple[str, str]:
    """A URL with a password to a port nothing listens on, and how a log may show it."""
    port = free_port()
    return (
        f"postgresql://fanout:{PASSWORD}@127.0.0.1:{port}/calls",
        f"postgresql+psycopg://fanout:***@127.0.0.1:{port}/calls",
    )


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if not k.startswith(("DB_", "DEMO_"))}
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
