"""`GET /integrations/logs` on real SQLite and PostgreSQL: filters, keyset pages, data as stored."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.observability.app_client import read_client
from tests.observability.seeding import NOW, call, seed

ROWS = [
    call("weather", 10, ago_s=10, request_id="r1", data={"city": "Busan", "list": [1, 2]}),
    call("weather", 20, ago_s=20, kind="timeout", status=None, request_id="r1"),
    call(
        "stock_quotes",
        30,
        ago_s=30,
        kind="validation_error",
        request_id="r2",
        data={"quotes": [{"price": "n/a"}]},
    ),
    call("stock_quotes", 40, ago_s=40, kind="http_status", status=503, request_id="r2"),
    call("geocoding", 50, ago_s=4000, request_id="r3"),
]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    seed(database_url, ROWS)
    async for c in read_client(database_url):
        yield c


async def _ms(client: httpx.AsyncClient, **params: str | int) -> list[float]:
    response = await client.get("/integrations/logs", params=params)
    assert response.status_code == 200, response.text
    return [item["response_time_ms"] for item in response.json()["items"]]


async def test_newest_first_with_data_as_stored(client: httpx.AsyncClient) -> None:
    response = await client.get("/integrations/logs")
    items = response.json()["items"]
    assert [i["response_time_ms"] for i in items] == [10, 20, 30, 40, 50]
    assert items[0]["data"] == {"city": "Busan", "list": [1, 2]}
    assert items[2]["data"] == {"quotes": [{"price": "n/a"}]}
    assert items[0]["created_at"].startswith("2026-11-22T11:59:50")
    assert items[0]["created_at"].endswith(("Z", "+00:00"))
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"provider": "stock_quotes"}, [30, 40]),
        ({"provider": "weather,geocoding"}, [10, 20, 50]),
        ({"success": "false"}, [20, 30, 40]),
        ({"success": "true"}, [10, 50]),
        ({"error_kind": "http_status"}, [40]),
        ({"error_kind": ["timeout", "http_status"]}, [20, 40]),
        ({"validation_errors_only": "true"}, [30]),
        ({"request_id": "r2"}, [30, 40]),
        ({"since": "2026-11-22T11:59:30Z"}, [10, 20, 30]),
        ({"since": "2026-11-22T11:00:00", "until": "2026-11-22T11:59:30Z"}, [40]),
        ({"since": "2026-11-22T20:59:30+09:00"}, [10, 20, 30]),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, params: dict[str, str | int], expected: list[float]
) -> None:
    assert await _ms(client, **params) == expected


async def test_keyset_pages_cover_everything_once(client: httpx.AsyncClient) -> None:
    seen: list[float] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/integrations/logs", params=params)).json()
        seen += [i["response_time_ms"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [10, 20, 30, 40, 50]
    assert pages == 3


async def test_same_timestamp_rows_are_not_lost_between_pages(database_url: str) -> None:
    seed(database_url, [call("weather", float(i), ago_s=5) for i in range(7)])
    async for client in read_client(database_url):
        first = (await client.get("/integrations/logs", params={"limit": 3})).json()
        rest = (
            await client.get(
                "/integrations/logs", params={"limit": 10, "cursor": first["next_cursor"]}
            )
        ).json()
        ids = [i["id"] for i in first["items"] + rest["items"]]
        assert len(ids) == len(set(ids)) == 7
        assert ids == sorted(ids, reverse=True)  # ties broken by id, newest first


async def test_items_carry_breaker_state_and_stale(database_url: str) -> None:
    fallback = call("weather", 5, ago_s=5, kind="circuit_open", status=None)
    fallback |= {"breaker_state": "open", "stale": True, "data": {"city": "Busan"}}
    plain = call("geocoding", 9, ago_s=9) | {"breaker_state": None, "stale": False}
    seed(database_url, [plain, fallback])
    async for client in read_client(database_url):
        items = (await client.get("/integrations/logs")).json()["items"]
    assert [(i["provider"], i["breaker_state"], i["stale"]) for i in items] == [
        ("weather", "open", True),
        ("geocoding", None, False),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage!"},
        {"cursor": ""},
        {"limit": 0},
        {"limit": 501},
        {"error_kind": "nope"},
        {"since": "0.5"},  # pydantic alone would read Unix seconds
        {"provider": "weather,nope"},  # registered names only, as for /integrations/fetch
        {"provider": ""},  # an empty name is a mistake, as for /integrations/fetch
        {"provider": "weather,"},
    ],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await client.get("/integrations/logs", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_now_is_the_seeding_reference() -> None:
    assert NOW.tzinfo is not None
