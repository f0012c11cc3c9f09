"""The suite does not depend on what surrounds it: another provider module on disk, settings
variables in the shell, a `.env` in the directory pytest starts from."""

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.integrations.providers as providers_package
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from tests.conftest import api_client, make_settings
from tests.support.processes import ROOT, child_env
from tests.support.providers import DEMO_NAMES, demo_registry

# The README's "Add a provider in one file" example: it calls a host that does not exist.
HOLIDAY_API = """
from typing import Any

from app.http import HttpClient
from app.integrations.base import BaseApiProvider, Params


class HolidayApiProvider(BaseApiProvider):
    name = "holiday_api"

    @property
    def endpoint(self) -> str:
        return "https://holiday-api.example/v1/holidays"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.get_json(client, self.endpoint, params={"country": "KR"})
"""


@pytest.fixture
def extra_provider_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`holiday_api.py` inside the providers package, for this test only."""
    (tmp_path / "holiday_api.py").write_text(HOLIDAY_API)
    monkeypatch.setattr(providers_package, "__path__", [*providers_package.__path__, str(tmp_path)])
    yield
    sys.modules.pop(f"{providers_package.__name__}.holiday_api", None)


@pytest.mark.usefixtures("extra_provider_module")
async def test_an_extra_provider_module_changes_nothing_a_tests_app_serves(
    sqlite_url: str,
) -> None:
    assert "holiday_api" in ProviderRegistry.from_package().names  # create_app's default
    settings = make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9")
    async for client in api_client(create_app(settings, registry=demo_registry())):
        listed = (await client.get("/integrations/providers")).json()
    assert sorted(p["name"] for p in listed) == DEMO_NAMES


def test_every_app_a_test_builds_names_its_providers() -> None:
    unnamed = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "create_app"
                and not any(keyword.arg == "registry" for keyword in node.keywords)
            ):
                unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unnamed, f"pass registry=demo_registry() (tests/support/providers.py): {unnamed}"


def test_settings_from_the_shell_or_a_dot_env_change_no_outcome(tmp_path: Path) -> None:
    # A 10-byte body cap fails any contract test that reads it: from the shell here, and from
    # a `.env` in the directory pytest starts from (the contract's settings read `.env`).
    poison = {"POLICY_MAX_RESPONSE_BYTES": "10", "ENVIRONMENT": "production"}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in poison.items()))
    target = ROOT / "tests" / "integrations" / "providers" / "test_demo_providers.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{target}::TestWeather"],
        cwd=tmp_path,
        env=child_env(**poison),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_opentelemetry_variables_in_the_shell_change_no_outcome(tmp_path: Path) -> None:
    # Left in place, they would turn tracing on in every app a test starts (and this one
    # asserts that tracing is off) or stop it starting (an exporter we do not ship).
    poison = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_SAMPLER": "x"}
    target = ROOT / "tests" / "observability" / "test_tracing.py"
    test = "test_tracing_off_sends_no_traceparent_and_stores_no_trace_id"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{target}::{test}"],
        cwd=tmp_path,
        env=child_env(**poison),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
