"""`required`, `min_success` and `X-Partial` through the API, against the real simulator."""

from typing import Any

import httpx
import pytest

from app.main import create_app
from app.simulator import Simulator
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry


async def test_every_answer_says_whether_it_is_partial(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/fetch", params={"providers": "weather"})
    assert (response.status_code, response.headers["x-partial"]) == (200, "false")
    assert response.json()["summary"]["partial"] is False


async def test_rules_met_answer_200(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/integrations/fetch",
        json={"providers": ["weather", "geocoding"], "required": ["weather"], "min_success": 2},
    )
    assert response.status_code == 200
    assert response.json()["summary"]["unmet"] is None


async def test_a_quorum_the_outcome_misses_answers_502_with_the_results(sqlite_url: str) -> None:
    async with Simulator(latency_scale=0, error_rate=1.0, drift_rate=0, seed=3) as failing:
        settings = make_settings(sqlite_url, demo_upstream_url=failing.url, policy_retries=0)
        async for client in api_client(create_app(settings, registry=demo_registry())):
            response = await client.get(
                "/integrations/fetch", params={"providers": "weather", "min_success": 1}
            )
    assert response.status_code == 502
    body = response.json()
    assert body["results"][0]["success"] is False
    assert body["summary"]["unmet"] == "0 of 1 succeeded, min_success is 1"


IMPOSSIBLE = [
    ({"providers": "weather", "min_success": 2}, "min_success", "the 1 provider(s)"),
    ({"min_success": 21}, "min_success", "the 20 provider(s)"),
    ({"min_success": 10**34}, "min_success", "the 20 provider(s)"),
    ({"providers": "weather", "required": "geocoding"}, "required", "(position 1)"),
    ({"providers": "weather", "required": ["weather", "geocoding"]}, "required", "(position 2)"),
]


@pytest.mark.parametrize(("query", "field", "says"), IMPOSSIBLE)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_rules_no_outcome_could_meet_are_422_before_any_upstream_call(
    client: httpx.AsyncClient,
    simulator: Simulator,
    method: str,
    query: dict[str, Any],
    field: str,
    says: str,
) -> None:
    if method == "GET":
        response = await client.get("/integrations/fetch", params=query)
        at = "query"
    else:
        body = {k: v.split(",") if k == "providers" else v for k, v in query.items()}
        if isinstance(body.get("required"), str):
            body["required"] = [body["required"]]
        response = await client.post("/integrations/fetch", json=body)
        at = "body"
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == [at, field]
    assert says in detail["msg"]
    assert "input" not in detail
    assert simulator.connections_total == 0  # not one upstream call was made
    # The control: a request that can succeed does reach the upstream.
    assert (await client.get("/integrations/fetch", params={"providers": "weather"})).is_success
    assert simulator.connections_total > 0


async def test_an_unknown_required_provider_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/fetch", params={"required": "wether"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "required"]
    assert "wether" not in response.text  # never echoed; the position says which
    assert "(position 1); valid names: " in detail["msg"]


async def test_openapi_documents_502_504_and_the_header(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for method in ("get", "post"):
        responses = schema["paths"]["/integrations/fetch"][method]["responses"]
        assert {"200", "502", "504"} <= set(responses)
        assert "X-Partial" in responses["502"]["headers"]
        assert "X-Partial" in responses["200"]["headers"]
    params = schema["paths"]["/integrations/fetch"]["get"]["parameters"]
    required = next(p for p in params if p["name"] == "required")
    assert "weather" in required["schema"]["items"]["enum"]
