"""The admission gate's latency samples count from the request's arrival at the server.

A real uvicorn server with the guarded protocol (`app.api.connections`) in this loop: the
protocol stamps each request head's arrival, and the gate's sample for a fan-out includes the
time the request waited before the gate ran (the event loop's lag under overload).
"""

import asyncio
import time

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from app.api.admission import AdmissionMiddleware
from app.api.connections import RECEIVED_SCOPE_KEY, GuardedHttpToolsProtocol, jittered
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
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            late, port=port, http=GuardedHttpToolsProtocol, log_level="warning", lifespan="off"
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        await poll(lambda: server.started, what="server started")
        before = time.monotonic()
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/integrations/fetch")
        assert response.status_code == 200
        assert before <= arrivals[0] <= time.monotonic()
        assert admission.samples and admission.samples[0] >= 0.2
    finally:
        server.should_exit = True
        await serving


def test_a_shed_connection_rests_half_to_one_and_a_half_retry_afters() -> None:
    assert jittered(1.0, lambda: 0.0) == 0.5
    assert jittered(2.0, lambda: 0.999) == pytest.approx(2 * 1.499)
    rests = {round(jittered(1.0), 2) for _ in range(200)}
    assert len(rests) > 20 and min(rests) >= 0.5 and max(rests) <= 1.5
