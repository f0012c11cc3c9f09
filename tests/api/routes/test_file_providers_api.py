"""File providers in the running app: peers of the code providers, per-provider params, and
values refused with a 422 before any upstream call."""

import logging
import shutil
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.providers import with_files
from tests.support.servers import Canary

SHIPPED = Path(__file__).parents[3] / "providers"
REPO = textwrap.dedent(
    """
    name: repo_file
    description: A repository by owner and name.
    request:
      url: "{base}/repos/{{owner}}/{{repo}}"
      query: {{tab: "{{tab}}"}}
    params:
      owner: {{required: true, description: the account}}
      repo: {{default: hello}}
      tab: {{}}
    """
)


@pytest.fixture
async def client(
    sqlite_url: str, simulator: Simulator, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    # The shipped examples, copied: what `python -m app serve` loads, in this test's own dir.
    directory = tmp_path / "providers"
    shutil.copytree(SHIPPED, directory)
    settings = make_settings(sqlite_url, demo_upstream_url=simulator.url)
    async for c in api_client(create_app(settings, registry=with_files(directory))):
        yield c


async def test_the_shipped_examples_work_beside_the_code_providers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/integrations/fetch")
    body = response.json()
    assert body["summary"] == {**body["summary"], "total": 26, "failed": 0}
    by_name = {r["provider"]: r for r in body["results"]}
    assert by_name["sim_orders"]["data"] == {
        "id": 1,
        "item": "tea",
        "quantity": 1,
        "status": "created",
    }
    assert by_name["sim_users"]["data"] == {
        "items": [{"id": 2, "name": "Grace"}, {"id": 3, "name": "Linus"}]
    }
    listed = {p["name"]: p for p in (await client.get("/integrations/providers")).json()}
    assert listed["sim_orders"]["method"] == "POST"
    assert listed["sim_orders"]["params"]["item"] == "What to order."
    enum = (await client.get("/openapi.json")).json()
    assert "sim_oauth2" in str(enum)


async def test_provider_params_reach_one_provider_on_get_and_post(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    response = await client.get(
        "/integrations/fetch",
        params={
            "providers": "sim_orders,weather",
            "city": "Busan",
            "sim_orders.item": "coffee",
            "sim_orders.quantity": "2",
        },
    )
    results = {r["provider"]: r for r in response.json()["results"]}
    assert results["sim_orders"]["data"]["item"] == "coffee"
    assert results["sim_orders"]["data"]["quantity"] == 2
    assert results["weather"]["data"]["city"] == "Busan"
    response = await client.post(
        "/integrations/fetch",
        json={
            "providers": ["sim_orders", "weather"],
            "params": {"item": "shared", "city": "Seoul"},
            "provider_params": {"sim_orders": {"item": "juice", "quantity": 3}},
        },
    )
    results = {r["provider"]: r for r in response.json()["results"]}
    assert (results["sim_orders"]["data"]["item"], results["sim_orders"]["data"]["quantity"]) == (
        "juice",
        3,
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"sim_orders.quantity": "many"}, "sim_orders: parameter 'quantity' must be an integer"),
        ({"nosuch.x": "1"}, "`provider_params` names a provider that is not registered"),
    ],
)
async def test_unusable_provider_params_are_a_422_before_any_call(
    client: httpx.AsyncClient, simulator: Simulator, query: dict[str, str], message: str
) -> None:
    before = simulator.secured.token_requests, simulator.connections_total
    response = await client.get("/integrations/fetch", params={"providers": "sim_orders", **query})
    assert response.status_code == 422
    assert message in str(response.json())
    assert (simulator.secured.token_requests, simulator.connections_total) == before


async def test_provider_params_count_against_the_limits(
    sqlite_url: str, simulator: Simulator, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, demo_upstream_url=simulator.url, max_params=2)
    async for c in api_client(create_app(settings, registry=with_files(SHIPPED))):
        response = await c.post(
            "/integrations/fetch",
            json={
                "params": {"a": 1},
                "provider_params": {"sim_orders": {"i": "x", "q": 2, "r": 3}},
            },
        )
        assert response.status_code == 422
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", "provider_params", "sim_orders"]
        assert "MAX_PARAMS" in detail["msg"]
        response = await c.get(
            "/integrations/fetch", params={"a": "1", "sim_orders.item": "x", "sim_orders.q": "2"}
        )
        assert response.status_code == 422
        assert "MAX_PARAMS" in str(response.json())


INJECTIONS = [
    "..",
    ".",
    "a/b",
    "a%2Fb",
    "%2e%2e",
    "a?x=1",
    "a#frag",
    "a\\b",
    "a\r\nb",
    "",
    "x/../y",
]


@pytest.mark.parametrize("value", INJECTIONS)
async def test_path_injection_never_reaches_another_path(
    sqlite_url: str, tmp_path: Path, value: str
) -> None:
    async with Canary() as canary:
        base = f"http://127.0.0.1:{canary.port}"
        (tmp_path / "repo.yaml").write_text(REPO.format(base=base))
        settings = make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9")
        async for c in api_client(create_app(settings, registry=with_files(tmp_path))):
            response = await c.get(
                "/integrations/fetch", params={"providers": "repo_file", "repo_file.owner": value}
            )
            assert response.status_code == 422, response.text
            detail = response.json()["detail"][0]
            assert detail["loc"] == ["query", "provider_params", "repo_file", "owner"]
            assert "'owner'" in detail["msg"]
            assert canary.hits == 0
            # A plain value goes through, percent-encoded into its one segment.
            ok = await c.get(
                "/integrations/fetch",
                params={"providers": "repo_file", "repo_file.owner": "a b@c"},
            )
            assert ok.json()["results"][0]["success"] is True
            assert canary.hits == 1


async def test_a_missing_secret_stops_start_up_naming_provider_and_variable(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOSUCH_TOKEN", raising=False)
    (tmp_path / "needs.yaml").write_text(
        "name: needs\nrequest: {url: 'https://api.example/'}\n"
        "auth: {type: bearer, token: '${NOSUCH_TOKEN}'}\n"
    )
    with pytest.raises(Exception, match="environment variable NOSUCH_TOKEN is not set") as caught:
        create_app(make_settings(sqlite_url), registry=with_files(tmp_path, demo=False))
    assert "auth.token" in str(caught.value) and "'needs'" in str(caught.value)


async def test_an_optional_provider_with_a_missing_secret_is_left_out_with_a_warning(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "needs.yaml").write_text(
        "name: needs_zq\noptional: true\nrequest: {url: 'https://api.example/'}\n"
        "auth: {type: bearer, token: '${NOSUCH_TOKEN}'}\n"
    )
    with caplog.at_level(logging.WARNING):
        app = create_app(make_settings(sqlite_url), registry=with_files(tmp_path, demo=False))
    assert "needs_zq" not in str(app.openapi())
    assert "optional provider needs_zq left out" in caplog.text
    assert "NOSUCH_TOKEN" in caplog.text
