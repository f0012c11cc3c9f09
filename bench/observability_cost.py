"""CPU per 20-call fan-out of the observability work: on the event loop vs on the observer thread.

    .venv/bin/python -m bench.observability_cost

Measures, in one process with the JSON formatter writing to /dev/null at INFO:
the loop's share (`CallObserver.record`'s queue put, the request-id header hook, the access
line), and the work moved to the observer thread (counters, histogram, 20 JSON call lines),
i.e. what the event loop would pay per fan-out if it did that work inline.
"""

import asyncio
import logging
import os
import time
from datetime import UTC, datetime

import httpx

from app.core.errors import ErrorKind
from app.http.tracking import CALL_TRACKING_HOOKS, CallState, current_call
from app.integrations.schemas import ExternalResponse
from app.observability.call_observer import CallObserver, _log_lines
from app.observability.logging import JsonFormatter
from app.observability.metrics import Metrics
from app.observability.request_id import access_logger

ROUNDS = 2000


def _results() -> list[ExternalResponse]:
    return [
        ExternalResponse.model_construct(
            provider=f"provider_{i}",
            success=i % 10 != 0,
            data=None,
            error_message=None if i % 10 else "upstream answered HTTP 503",
            response_time_ms=12.5 + i,
            is_validation_error=False,
            status_code=200 if i % 10 else 503,
            error_kind=None if i % 10 else ErrorKind.HTTP_STATUS,
            attempts=1,
            started_at=datetime.now(UTC),
        )
        for i in range(20)
    ]


def _per_round_us(fn: object, rounds: int = ROUNDS) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / rounds * 1e6


async def _hook_us(request_id: str | None) -> float:
    hook = CALL_TRACKING_HOOKS["request"][0]
    request = httpx.Request("GET", "http://upstream.example/x")
    token = current_call.set(CallState(request_id=request_id))
    try:
        start = time.perf_counter()
        for _ in range(ROUNDS * 20):
            await hook(request)
        return (time.perf_counter() - start) / ROUNDS * 1e6  # per 20 calls
    finally:
        current_call.reset(token)


def main() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    results = _results()
    metrics = Metrics()
    observer = CallObserver(None, metrics)  # not started: measures the put alone
    put = _per_round_us(lambda: observer._queue.put(("r", results)))
    record = _per_round_us(lambda: metrics.record(results))
    lines = _per_round_us(lambda: _log_lines("5f0c3c7e9b0a4a55a3c1f0d4d7f3c2aa", results), 500)
    access = _per_round_us(
        lambda: access_logger.info("request", extra={"request_id": "r", "method": "GET"}), 2000
    )
    hook = asyncio.run(_hook_us("5f0c3c7e9b0a4a55a3c1f0d4d7f3c2aa"))
    hook_without = asyncio.run(_hook_us(None))
    print(f"per 20-call fan-out, median machine noise aside ({ROUNDS} rounds):")
    print(f"  on the loop:   queue put {put:6.1f} us, access line {access:6.1f} us,")
    print(
        f"                 request hook x20 {hook:6.1f} us ({hook_without:.1f} without the header)"
    )
    print(f"  on the thread: metrics {record:6.1f} us, 20 JSON call lines {lines:6.1f} us")


if __name__ == "__main__":
    main()
