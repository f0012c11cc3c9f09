"""The admission gate with the guarded server protocol: arrival stamps and shed streaks.

A real uvicorn server with the guarded protocol (`app.api.connections`) in this loop: the
protocol stamps each request head's arrival, and the gate's sample for a fan-out includes the
time the request waited before the gate ran (the event loop's lag under overload). It also
counts the requests a connection had shed in a row, and the gate's Retry-After doubles with
them.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from app.api.admission import AdmissionMiddleware
from app.api.connections import (
    RECEIVED_SCOPE_KEY,
    SHED_SCOPE_KEY,
    SHED_STREAK_SCOPE_KEY,
    GuardedHttpToolsProtocol,
    jittered,
)
from app.resilience.admission import Admission
from tests.support.polling import poll
from tests.support.ports import free_port


class Recording(Admission):
    def __init__(self) -> None:
        super().__init__(limit=4)
        self.samples: list[float] = []

    def release(self, duration_s: float, *, sample: bool = True) -> None:
        self.samples.append(duration_s)
        super().release(duration_s, sample=sample)


@contextlib.asynccontextmanager
async def serving(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, port=port, http=GuardedHttpToolsProtocol, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        await poll(lambda: server.started, what="server started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_a_fan_outs_latency_sample_counts_from_the_request_head_not_the_gate() -> None:
    arrivals: list[float] = []

    async def late(scope: Scope, receive: Receive, send: Send) -> None:
        # In front of the gate: the loop is busy for 0.2 s before the gate sees the request.
        if scope["type"] == "http":
            arrivals.append(scope[RECEIVED_SCOPE_KEY])
            time.sleep(0.2)  # noqa: ASYNC251 (the loop blocked on purpose, as under overload)
        await gate(scope, receive, send)

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    admission = Recording()
    gate = AdmissionMiddleware(answer, admission, default_deadline_s=5.0, retry_after_s=1)
    async with serving(late) as base:
        before = time.monotonic()
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{base}/integrations/fetch")
        assert response.status_code == 200
        assert before <= arrivals[0] <= time.monotonic()
        assert admission.samples and admission.samples[0] >= 0.2


@pytest.mark.parametrize("memory_s", [10.0, 0.0])
async def test_a_connection_shed_again_is_told_to_wait_twice_as_long_up_to_4x(
    monkeypatch: pytest.MonkeyPatch, memory_s: float
) -> None:
    # The connection's sheds count while each comes within `shed_memory_s` of the one
    # before, admitted requests in between or not; 0 s: every shed is a first one.
    monkeypatch.setattr(GuardedHttpToolsProtocol, "shed_memory_s", memory_s)
    release = asyncio.Event()

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["query_string"] == b"hold":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    admission = Admission(limit=1, max_wait_s=0.001)
    # Not paced, so the test need not wait out the Retry-Afters; the streak counts alike.
    gate = AdmissionMiddleware(
        answer, admission, default_deadline_s=5.0, retry_after_s=1, pace=False
    )
    async with (
        serving(gate) as base,
        httpx.AsyncClient(base_url=base) as holder,
        httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=1)) as client,
    ):

        async def hold() -> "asyncio.Task[httpx.Response]":
            release.clear()
            task = asyncio.create_task(holder.get("/integrations/fetch?hold"))
            await poll(lambda: admission.in_flight == 1, what="the slot held")
            return task

        async def shed_waits(count: int) -> list[str]:
            held = await hold()
            waits = []
            for _ in range(count):
                response = await client.get("/integrations/fetch")
                assert response.status_code == 503
                waits.append(response.headers["retry-after"])
            release.set()
            assert (await held).status_code == 200
            return waits

        first = await shed_waits(2)
        assert (await client.get("/integrations/fetch")).status_code == 200  # admitted
        then = await shed_waits(3)
    if memory_s:
        assert (first, then) == (["1", "2"], ["4", "4", "4"])
    else:
        assert (first, then) == (["1", "1"], ["1", "1", "1"])


async def test_a_paced_shed_rests_its_connection_for_the_retry_after_it_was_told() -> None:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("a full gate lets nothing through")

    admission = Admission(limit=1, max_wait_s=0.001)
    await admission.acquire(5.0)  # the one slot, held
    gate = AdmissionMiddleware(answer, admission, default_deadline_s=5.0, retry_after_s=2)
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    for streak, wait in [(0, 2), (1, 4), (2, 8), (9, 8)]:
        scope: dict[str, object] = {"type": "http", "path": "/integrations/fetch"}
        scope.update({"query_string": b"", SHED_STREAK_SCOPE_KEY: streak})
        sent.clear()
        await gate(scope, receive, send)  # type: ignore[arg-type]
        headers = dict(sent[0]["headers"])  # type: ignore[call-overload]
        assert (sent[0]["status"], headers[b"retry-after"]) == (503, str(wait).encode())
        assert scope[SHED_SCOPE_KEY] == float(wait)  # what the protocol rests it


def test_a_shed_connection_rests_half_to_one_and_a_half_retry_afters() -> None:
    assert jittered(1.0, lambda: 0.0) == 0.5
    assert jittered(2.0, lambda: 0.999) == pytest.approx(2 * 1.499)
    rests = {round(jittered(1.0), 2) for _ in range(200)}
    assert len(rests) > 20 and min(rests) >= 0.5 and max(rests) <= 1.5
