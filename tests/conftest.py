"""Shared fixtures: real SQLite files, a real PostgreSQL database, real local upstreams."""

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.simulator import Simulator
from tests.support.redis_server import RedisServer, redis_server

POSTGRES_ENV = "TEST_DATABASE_URL"
# pydantic-settings matches variable names to fields without regard to case.
SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)


def _settings_variables() -> list[str]:
    """The developer's settings variables, and the OpenTelemetry ones the service reads."""
    return [
        name
        for name in os.environ
        if name.upper() in SETTINGS_VARIABLES or name.upper().startswith("OTEL_")
    ]


def pytest_configure(config: pytest.Config) -> None:
    """Drop the developer's settings variables before collection: some modules build settings
    (or an app) at import, before any fixture runs."""
    for name in _settings_variables():
        del os.environ[name]


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no settings variable set (`POLICY_MAX_RESPONSE_BYTES=10` or
    `ENVIRONMENT=production` in a shell changes no outcome), even if an earlier test set one;
    child processes inherit the same clean environment."""
    for name in _settings_variables():
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True, scope="session")
def _run_in_an_empty_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test sees a `.env` in the checkout, nor writes the default `data/` (database, spool)
    into it: relative paths resolve in a directory of this run's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'calls.db'}"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The server from TEST_DATABASE_URL: skip when unset, fail when set but unreachable."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    url = Settings(database_url=url, _env_file=None).database_url
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"fanout_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """The bundled simulator on a free port, answering at once and never failing."""
    async with Simulator(latency_scale=0, error_rate=0, drift_rate=0, seed=7) as sim:
        yield sim


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "log_flush_interval_ms": 5,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Drive the app in-process, lifespan included."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many cases schemathesis generated, when it ran."""
    module = sys.modules.get("tests.test_schemathesis")
    line = module.case_summary() if module is not None else None
    if line:
        terminalreporter.write_line(line)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, on a free port (never the machine's shared one)."""
    yield from redis_server(tmp_path)
