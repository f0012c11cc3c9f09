"""kill -9 under load in strict mode: every answered request keeps all its rows, none twice.

A real `python -m app serve` process (SQLite, the bundled simulator) takes concurrent fan-outs
from a real HTTP load generator; at a random moment it gets SIGKILL. The next start replays the
spool, and the test checks the database against the request ids whose responses arrived.

CI runs 20 kill points; `CRASH_KILL_POINTS=100 python -m pytest tests/e2e/test_crash_recovery.py`
is the long run. `CRASH_SEED` replays one sequence of kill moments.
"""

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.polling import poll, wait_until
from tests.support.ports import free_port
from tests.support.processes import answers_health, child_env

KILL_POINTS = int(os.environ.get("CRASH_KILL_POINTS", "20"))
PROVIDERS = "weather,exchange_rates,time_zone,stock_quotes,vat_rates,geocoding"
CONCURRENCY = 8


# Imports the app once, then forks one service process per start: each child runs `python -m
# app serve`'s own `main` (migrations, lifespan with spool replay, uvicorn) and is the process
# that gets SIGKILL. Forking from a process that has only imported keeps 20+ restarts cheap.
ZYGOTE = """
import os, sys
import app.main, app.cli
for line in sys.stdin:
    port, log = line.split()
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            app.cli.main(["serve", "--port", port])
        finally:
            os._exit(0)
    print(pid, flush=True)
"""


class Service:
    def __init__(self, tmp_path: Path) -> None:
        self.database = tmp_path / "crash.db"
        self.spool = tmp_path / "spool"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        env = child_env(
            DATABASE_URL=f"sqlite:///{self.database}",
            LOG_DURABILITY="strict",
            LOG_SPOOL_DIR=str(self.spool),
            SIMULATOR_ERROR_RATE="0",
            SIMULATOR_LATENCY_SCALE="0.05",
        )
        self.zygote = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            cwd=self.logs,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.starts = 0

    def start(self) -> tuple[int, str]:
        port = free_port()
        self.starts += 1
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        self.zygote.stdin.write(f"{port} {self.log}\n")
        self.zygote.stdin.flush()
        pid = int(self.zygote.stdout.readline())
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert alive(pid), self.output()
            return answers_health(base)

        wait_until(up, timeout_s=60, what="the service coming up")
        return pid, base

    @property
    def log(self) -> Path:
        return self.logs / f"run-{self.starts}.log"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def spool_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.spool.glob("*.spool"))

    def close(self) -> None:
        self.zygote.kill()
        self.zygote.wait(timeout=10)


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie the zygote has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_dead(pid: int) -> None:
    wait_until(lambda: not alive(pid), timeout_s=10, what=f"process {pid} ending after SIGKILL")


async def load_until_killed(base: str, pid: int, kill_after_s: float) -> dict[str, int]:
    """Fan-outs from CONCURRENCY clients, SIGKILL `kill_after_s` after the first answer."""
    answered: dict[str, int] = {}

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            try:
                response = await client.get(
                    f"{base}/integrations/fetch", params={"providers": PROVIDERS}
                )
            except httpx.TransportError:
                return  # the process is gone
            assert response.status_code == 200, response.text
            body = response.json()
            answered[body["request_id"]] = len(body["results"])

    async with httpx.AsyncClient(timeout=10) as client:
        clients = [asyncio.create_task(client_loop(client)) for _ in range(CONCURRENCY)]
        # Under load: answers are flowing before the kill point.
        await poll(lambda: answered, timeout_s=30, what="an answer from the service")
        await asyncio.sleep(kill_after_s)  # the random kill point, not a wait for a condition
        os.kill(pid, signal.SIGKILL)
        await asyncio.gather(*clients)
    return answered


def check_rows(service: Service, answered: dict[str, int]) -> int:
    """Wait until the restarted service has replayed its spool, then compare rows."""
    wait_until(lambda: not service.spool_bytes(), timeout_s=30, what="the spool replayed")
    with sqlite3.connect(service.database) as conn:
        per_request = dict(
            conn.execute("SELECT request_id, count(*) FROM external_api_logs GROUP BY request_id")
        )
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM external_api_logs "
            "GROUP BY request_id, provider HAVING count(*) > 1)"
        ).fetchone()[0]
    missing = {r: n for r, n in answered.items() if per_request.get(r) != n}
    assert not missing, f"answered requests without all their rows: {list(missing)[:5]}"
    assert duplicates == 0
    return sum(per_request.values())


def test_kill_9_under_load_in_strict_mode(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    service = Service(tmp_path)
    answered: dict[str, int] = {}
    try:
        for point in range(KILL_POINTS):
            pid, base = service.start()
            check_rows(service, answered)
            kill_after = rng.uniform(0.0, 0.3)
            answered |= asyncio.run(load_until_killed(base, pid, kill_after))
            wait_dead(pid)
            assert "Application shutdown" not in service.output(), f"seed {seed}, {point}"
        pid, _ = service.start()
        try:
            rows = check_rows(service, answered)
        finally:
            os.kill(pid, signal.SIGTERM)
            wait_dead(pid)
    finally:
        service.close()
    assert len(answered) >= KILL_POINTS  # every kill landed under load
    assert rows >= sum(answered.values())
