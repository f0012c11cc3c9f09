"""`required`, `min_success` and `X-Partial` through the API, against the real simulator."""

import httpx


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


async def test_a_quorum_above_the_providers_called_answers_502_with_the_results(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/integrations/fetch", params={"providers": "weather", "min_success": 2}
    )
    assert response.status_code == 502
    body = response.json()
    assert body["results"][0]["success"] is True
    assert body["summary"]["unmet"] == "1 of 1 succeeded, min_success is 2"


async def test_a_required_provider_outside_the_selection_answers_502(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/integrations/fetch", params={"providers": "weather", "required": "geocoding"}
    )
    assert response.status_code == 502
    assert "not called: geocoding" in response.json()["summary"]["unmet"]


async def test_an_unknown_required_provider_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/fetch", params={"required": "wether"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "required"]
    assert "wether" in detail["msg"]


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
