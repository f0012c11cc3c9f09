"""Fault tests: 20 providers against a real chaos upstream, one of them (or all) faulty.

Each test checks that the other providers succeed, the answer arrives within the deadline
plus 200 ms, every provider call leaves exactly one log row, no asyncio task outlives the
request, and the answer is never a 500.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel
from sqlalchemy import create_engine, func, select

from app.core.config import Settings
from app.integrations.providers._demo import DemoProvider
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from app.models import ExternalApiLog
from tests.conftest import api_client, make_settings
from tests.e2e.chaos import ChaosUpstream
from tests.support.polling import poll
from tests.support.ports import free_port

DEADLINE_MS = 1000
SLACK_MS = 200
LEFTOVER_S = 0.2
NAMES = [f"chaos_{i:02d}" for i in range(20)]
FAULTY = NAMES[7]


class Value(BaseModel):
    value: int


def chaos_provider(name: str, refused_port: int | None = None) -> type[DemoProvider]:
    class Chaos(DemoProvider):
        path = "v1/value"
        response_model = Value
        redirect_to: ClassVar[int | None] = refused_port

        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            if self.redirect_to is not None:
                self._url = f"http://127.0.0.1:{self.redirect_to}/{self.name}/{self.path}"

    Chaos.name = name
    Chaos.__qualname__ = Chaos.__name__ = f"Chaos_{name}"
    return Chaos


@pytest.fixture
def chaos() -> Iterator[ChaosUpstream]:
    upstream = ChaosUpstream().start()
    try:
        yield upstream
    finally:
        upstream.close()


def rows_by_provider(database_url: str, request_id: str) -> dict[str, int]:
    engine = create_engine(Settings(database_url=database_url).database_url)
    try:
        with engine.connect() as conn:
            query = (
                select(ExternalApiLog.provider, func.count())
                .where(ExternalApiLog.request_id == request_id)
                .group_by(ExternalApiLog.provider)
            )
            return {provider: count for provider, count in conn.execute(query).all()}
    finally:
        engine.dispose()


async def fan_out(
    sqlite_url: str, chaos: ChaosUpstream, refused: set[str], **query: Any
) -> tuple[int, dict[str, Any], dict[str, str], float, set[str]]:
    port = free_port()  # nothing listens there: connections are refused
    registry = ProviderRegistry([chaos_provider(n, port if n in refused else None) for n in NAMES])
    # Fast call-log mode: the answer must not wait for the database, so the time measured is
    # the fan-out's own (strict mode's wait is the call log's concern, tested there).
    settings = make_settings(sqlite_url, demo_upstream_url=chaos.url, log_durability="fast")
    app = create_app(settings, registry=registry)
    async for client in api_client(app):
        before = asyncio.all_tasks()
        started = time.perf_counter()
        response = await client.get(
            "/integrations/fetch", params={"timeout_ms": DEADLINE_MS, **query}
        )
        elapsed_ms = (time.perf_counter() - started) * 1000

        def left(before: set[asyncio.Task[Any]] = before) -> set[asyncio.Task[Any]]:
            return asyncio.all_tasks() - before

        # Every task the request started (its provider calls and whatever they spawned) has
        # ended once the answer is out, give or take the loop turns that finish cancelling.
        with contextlib.suppress(AssertionError):
            await poll(lambda: not left(), timeout_s=LEFTOVER_S, what="the request's tasks ending")
        leftover = {repr(task) for task in left()}
    return response.status_code, response.json(), dict(response.headers), elapsed_ms, leftover


FAULT_KINDS = {
    "refused": {"connection_error"},
    "reset_mid_body": {"connection_error"},
    "never_answer": {"timeout"},
    "drip": {"timeout"},
    "huge_body": {"response_too_large"},
    "endless_chunked": {"response_too_large"},
    "longer_content_length": {"connection_error"},
    # aiohttp may see the surplus bytes as a broken next message first.
    "shorter_content_length": {"invalid_json", "connection_error"},
    "malformed_json": {"invalid_json"},
    "invalid_utf8": {"invalid_json"},
    "wrong_content_type": {"invalid_json"},
    "too_many_requests": {"rate_limited"},
    "unavailable": {"http_status"},
}


@pytest.mark.parametrize("fault", list(FAULT_KINDS))
async def test_one_faulty_provider_of_twenty(
    sqlite_url: str, chaos: ChaosUpstream, fault: str
) -> None:
    refused = {FAULTY} if fault == "refused" else set()
    if fault != "refused":
        chaos.faults[FAULTY] = fault
    status, body, headers, elapsed_ms, leftover = await fan_out(sqlite_url, chaos, refused)

    assert status == 200  # never a 500; no rules set, so failures are data
    assert elapsed_ms < DEADLINE_MS + SLACK_MS
    results = {r["provider"]: r for r in body["results"]}
    assert [n for n, r in results.items() if not r["success"]] == [FAULTY]
    faulty = results[FAULTY]
    assert faulty["error_kind"] in FAULT_KINDS[fault], faulty
    assert faulty["data"] is None
    assert (body["summary"]["partial"], headers["x-partial"]) == (True, "true")
    assert not leftover, leftover

    async def logged() -> bool:
        return sum(rows_by_provider(sqlite_url, body["request_id"]).values()) >= len(NAMES)

    await poll(logged)
    assert rows_by_provider(sqlite_url, body["request_id"]) == dict.fromkeys(NAMES, 1)


async def test_retry_after_past_the_deadline_says_when_to_come_back(
    sqlite_url: str, chaos: ChaosUpstream
) -> None:
    chaos.faults[FAULTY] = "too_many_requests"
    _, body, *_ = await fan_out(sqlite_url, chaos, set())
    faulty = next(r for r in body["results"] if r["provider"] == FAULTY)
    assert (faulty["status_code"], faulty["attempts"]) == (429, 1)
    assert faulty["retry_at"] is not None
    assert chaos.requests[FAULTY] == 1  # not retried: Retry-After is past the deadline


async def test_all_twenty_down(sqlite_url: str, chaos: ChaosUpstream) -> None:
    status, body, headers, elapsed_ms, leftover = await fan_out(sqlite_url, chaos, set(NAMES))
    assert status == 200
    assert elapsed_ms < DEADLINE_MS + SLACK_MS
    assert {r["error_kind"] for r in body["results"]} == {"connection_error"}
    assert body["summary"]["succeeded"] == 0
    assert headers["x-partial"] == "true"
    assert not leftover, leftover

    async def logged() -> bool:
        return sum(rows_by_provider(sqlite_url, body["request_id"]).values()) >= len(NAMES)

    await poll(logged)
    assert rows_by_provider(sqlite_url, body["request_id"]) == dict.fromkeys(NAMES, 1)


async def test_a_required_provider_down_answers_502_with_every_result(
    sqlite_url: str, chaos: ChaosUpstream
) -> None:
    chaos.faults[FAULTY] = "unavailable"
    status, body, headers, *_ = await fan_out(sqlite_url, chaos, set(), required=FAULTY)
    assert status == 502
    assert len(body["results"]) == 20
    assert FAULTY in body["summary"]["unmet"]
    assert headers["x-partial"] == "true"


async def test_an_unmet_quorum_of_timeouts_answers_504(
    sqlite_url: str, chaos: ChaosUpstream
) -> None:
    chaos.faults[FAULTY] = "never_answer"
    status, body, _, elapsed_ms, *_ = await fan_out(sqlite_url, chaos, set(), min_success=20)
    assert status == 504
    assert elapsed_ms < DEADLINE_MS + SLACK_MS
    assert "19 of 20 succeeded, min_success is 20" in body["summary"]["unmet"]


async def test_a_met_quorum_answers_200_partial(sqlite_url: str, chaos: ChaosUpstream) -> None:
    chaos.faults[FAULTY] = "malformed_json"
    status, body, headers, *_ = await fan_out(sqlite_url, chaos, set(), min_success=19)
    assert (status, body["summary"]["unmet"], headers["x-partial"]) == (200, None, "true")


async def test_nothing_failing_is_not_partial(sqlite_url: str, chaos: ChaosUpstream) -> None:
    status, body, headers, *_ = await fan_out(sqlite_url, chaos, set())
    assert (status, body["summary"]["partial"], headers["x-partial"]) == (200, False, "false")
