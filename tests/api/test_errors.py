"""Every 422 says where and what is wrong, and never repeats the value the client sent.

The sweep sends a canary to every parameter of every operation in the OpenAPI schema; the
explicit cases reach the 422s that a single wrong parameter does not (bodies, limits, names,
rules no outcome could meet).
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.observability.app_client import read_client

CANARY = "Zq7canary"


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # Unmigrated: every request here is refused before it could read a row.
    settings = {"db_auto_migrate": False, "max_param_length": 16, "max_params": 3}
    async for c in read_client(sqlite_url, **settings):
        yield c


def assert_no_echo(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert CANARY.lower() not in response.text.lower()
    detail = response.json()["detail"]
    assert detail and all(d["msg"] and d["loc"] for d in detail)
    assert all("input" not in d for d in detail)


async def test_a_canary_in_any_parameter_is_never_echoed(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    refused = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if param["in"] not in ("query", "path"):
                    continue
                value = CANARY * 8  # also too long for every length-limited string
                url = path.replace(f"{{{param['name']}}}", value)
                query = {param["name"]: value} if param["in"] == "query" else {}
                response = await client.request(method.upper(), url, params=query)
                if response.status_code == 422:
                    assert_no_echo(response)
                    refused.append((path, param["name"]))
    # Each of these takes no free text, so the canary must have been refused.
    for expected in [
        ("/integrations/fetch", "providers"),
        ("/integrations/fetch", "required"),
        ("/integrations/fetch", "timeout_ms"),
        ("/integrations/fetch", "min_success"),
        ("/integrations/logs", "provider"),
        ("/integrations/logs", "error_kind"),
        ("/integrations/logs", "since"),
        ("/integrations/logs", "cursor"),
        ("/integrations/logs", "request_id"),
        ("/integrations/stats", "window"),
        ("/integrations/stats", "until"),
        ("/integrations/requests/{request_id}", "request_id"),
    ]:
        assert expected in refused


BAD_BODIES: list[Any] = [
    {"providers": [CANARY]},
    {"providers": ["weather"], "required": [CANARY]},
    {"providers": CANARY},
    {"params": {"city": [CANARY]}},
    {"params": {"city": CANARY * 4}},  # over MAX_PARAM_LENGTH
    {"params": {"a": CANARY, "b": CANARY, "c": CANARY, "d": CANARY}},  # over MAX_PARAMS
    {"timeout_ms": CANARY},
    {"min_success": CANARY},
    {"providers": ["weather"], "extra": CANARY},  # the key is where, not what
    {"providers": ["weather"], "min_success": 2},
    {"providers": ["weather"], "required": ["geocoding"]},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_a_bad_body_is_never_echoed(client: httpx.AsyncClient, body: Any) -> None:
    assert_no_echo(await client.post("/integrations/fetch", json=body))


async def test_malformed_json_is_never_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/integrations/fetch",
        content=f'{{"providers": [{CANARY}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert_no_echo(response)


BAD_QUERIES: list[list[tuple[str, str]]] = [
    [("providers", f"weather,{CANARY}")],
    [("providers", "weather"), ("required", f"{CANARY},weather")],
    [("providers", "weather,")],
    [("city", CANARY * 4)],  # a provider param over MAX_PARAM_LENGTH
    [("a", CANARY), ("b", CANARY), ("c", CANARY), ("d", CANARY)],  # over MAX_PARAMS
    [("providers", ",".join(["weather"] * 51))],  # over MAX_PROVIDERS_PER_REQUEST
    [("providers", "weather"), ("min_success", "2")],
    [("min_success", "1" + "0" * 34)],
]


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_a_bad_fetch_query_is_never_echoed(
    client: httpx.AsyncClient, query: list[tuple[str, str]]
) -> None:
    assert_no_echo(await client.get("/integrations/fetch", params=tuple(query)))


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/integrations/logs", [("provider", f"weather,{CANARY}")]),
        ("/integrations/logs", [("provider", "")]),
        ("/integrations/logs", [("limit", CANARY)]),
        ("/integrations/logs", [("success", CANARY)]),
        ("/integrations/logs", [("until", CANARY)]),
        ("/integrations/logs", [("validation_errors_only", CANARY)]),
        ("/integrations/stats", [("provider", CANARY)]),
        ("/integrations/stats", [("provider", "")]),
    ],
)
async def test_bad_read_filters_are_never_echoed(
    client: httpx.AsyncClient, path: str, query: list[tuple[str, str]]
) -> None:
    assert_no_echo(await client.get(path, params=tuple(query)))
