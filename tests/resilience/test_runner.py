"""The policies around a real provider call: MockTransport upstreams, a fake clock, no sleeps."""

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.integrations.base import BaseApiProvider, Params
from app.integrations.schemas import ExternalResponse
from app.resilience.deadline import Deadline
from app.resilience.response_cache import MemoryStore
from app.resilience.runner import PolicyRunner
from tests.support.clock import FakeClock

SETTINGS = Settings(_env_file=None)


class Reading(BaseModel):
    value: int


class Sensor(BaseApiProvider):
    name = "sensor"
    response_model = Reading
    params_doc = {"room": "which room"}

    @property
    def endpoint(self) -> str:
        return "https://sensor.test/v1/reading"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.get_json(client, self.endpoint, params={"room": params.get("room", "a")})


class PostSensor(Sensor):
    name = "post_sensor"
    method = "POST"

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        return self.parse_json_object(await client.post(self.endpoint, json={}))


Handler = Callable[[httpx.Request], httpx.Response]


class Upstream:
    """Answers from a script (the last entry repeats) and counts every network call."""

    def __init__(self, *script: httpx.Response | Handler) -> None:
        self.script = list(script)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        step = self.script[min(self.calls, len(self.script)) - 1]
        return step(request) if callable(step) else step


def ok(value: int = 1) -> httpx.Response:
    return httpx.Response(200, json={"value": value})


def make(cls: type[BaseApiProvider] = Sensor, **policy: Any) -> tuple[BaseApiProvider, FakeClock]:
    clock = FakeClock()
    provider = cls(SETTINGS.model_copy(update={"provider_policies": {cls.name: policy}}))
    provider.runner = PolicyRunner(
        provider.name, provider.policy, provider.method, clock=clock, rng=random.Random(7)
    )
    if provider.reuse.keeps:
        provider.attach_cache(MemoryStore(1 << 20), clock)
    return provider, clock


async def call(
    provider: BaseApiProvider,
    upstream: Upstream,
    clock: FakeClock,
    budget_s: float = 10.0,
    params: Params | None = None,
) -> ExternalResponse:
    deadline = Deadline(clock.monotonic() + budget_s, int(budget_s * 1000), clock)
    async with create_http_client(SETTINGS, transport=httpx.MockTransport(upstream)) as client:
        return await provider.execute(
            client, params or {"room": "a"}, request_id="r", deadline=deadline
        )


async def test_retries_a_503_with_backoff_then_succeeds() -> None:
    provider, clock = make(retries=2, retry_base_delay_ms=100)
    upstream = Upstream(httpx.Response(503), httpx.Response(503), ok())
    result = await call(provider, upstream, clock)
    assert (result.success, result.attempts, upstream.calls) == (True, 3, 3)
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.1 and 0 <= clock.sleeps[1] <= 0.2  # full jitter ceilings


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(404),
        httpx.Response(500),
        httpx.Response(200, json={"value": "x"}),
        httpx.Response(200, content=b"{oops", headers={"content-type": "application/json"}),
    ],
)
async def test_logical_failures_and_other_statuses_are_not_retried(
    failure: httpx.Response,
) -> None:
    provider, clock = make(retries=3)
    upstream = Upstream(failure, ok())
    result = await call(provider, upstream, clock)
    assert (result.success, result.attempts, upstream.calls, clock.sleeps) == (False, 1, 1, [])


async def test_connection_errors_are_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    provider, clock = make(retries=1)
    result = await call(provider, Upstream(refuse, ok()), clock)
    assert (result.success, result.attempts) == (True, 2)


async def test_post_is_retried_only_when_the_provider_opts_in() -> None:
    provider, clock = make(PostSensor, retries=2)
    upstream = Upstream(httpx.Response(503), ok())
    assert (await call(provider, upstream, clock)).attempts == 1
    provider, clock = make(PostSensor, retries=2, retry_non_idempotent=True)
    upstream = Upstream(httpx.Response(503), ok())
    assert (await call(provider, upstream, clock)).success


async def test_retry_after_within_the_deadline_is_waited_for() -> None:
    provider, clock = make(retries=1)
    upstream = Upstream(httpx.Response(429, headers={"Retry-After": "3"}), ok())
    result = await call(provider, upstream, clock, budget_s=10)
    assert result.success
    assert clock.sleeps == [3.0]


async def test_retry_after_past_the_deadline_fails_at_once_as_rate_limited() -> None:
    provider, clock = make(retries=3)
    upstream = Upstream(httpx.Response(429, headers={"Retry-After": "30"}), ok())
    result = await call(provider, upstream, clock, budget_s=2)
    assert result.error_kind is ErrorKind.RATE_LIMITED
    assert (result.status_code, result.attempts, upstream.calls, clock.sleeps) == (429, 1, 1, [])
    assert result.retry_at is not None
    assert (result.retry_at - clock.now()).total_seconds() == pytest.approx(30)


async def test_a_retry_that_cannot_finish_in_time_is_not_started() -> None:
    provider, clock = make(retries=3, retry_base_delay_ms=1000, retry_max_delay_ms=1000)

    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.advance(1.5)  # this attempt took 1.5 s
        return httpx.Response(503)

    upstream = Upstream(slow_503)
    result = await call(provider, upstream, clock, budget_s=2.5)
    assert (result.error_kind, result.status_code, upstream.calls) == (
        ErrorKind.HTTP_STATUS,
        503,
        1,
    )


async def test_open_breaker_makes_no_network_call() -> None:
    provider, clock = make(retries=0, breaker_window=4, breaker_min_calls=4, breaker_open_ms=5000)
    upstream = Upstream(httpx.Response(502))
    for _ in range(4):
        assert (await call(provider, upstream, clock)).breaker_state in ("closed", "open")
    assert upstream.calls == 4
    refused = await call(provider, upstream, clock)
    assert refused.error_kind is ErrorKind.CIRCUIT_OPEN
    assert (refused.attempts, refused.breaker_state, upstream.calls) == (0, "open", 4)
    clock.advance(5)
    upstream.script = [ok()]
    probe = await call(provider, upstream, clock)
    assert probe.success
    assert upstream.calls == 5


async def test_logical_failures_do_not_open_the_breaker() -> None:
    provider, clock = make(retries=0, breaker_window=2, breaker_min_calls=2)
    upstream = Upstream(httpx.Response(200, json={"value": "drift"}))
    for _ in range(5):
        result = await call(provider, upstream, clock)
    assert (result.error_kind, result.breaker_state) == (ErrorKind.VALIDATION_ERROR, "closed")


async def test_outbound_rate_limit_waits_for_a_token_or_refuses() -> None:
    provider, clock = make(rate_limit_per_s=1, rate_limit_burst=1)
    upstream = Upstream(ok())
    assert (await call(provider, upstream, clock)).success
    waited = await call(provider, upstream, clock, budget_s=2)
    assert waited.success
    assert clock.sleeps == [pytest.approx(1.0)]
    refused = await call(provider, upstream, clock, budget_s=0.5)
    assert refused.error_kind is ErrorKind.RATE_LIMITED
    assert (refused.attempts, refused.status_code, upstream.calls) == (0, None, 2)
    assert refused.retry_at is not None


async def test_bulkhead_full_until_the_deadline() -> None:
    provider, clock = make(max_concurrency=1, coalesce=False)  # two calls, not one shared
    gate = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return ok()

    async with create_http_client(SETTINGS, transport=httpx.MockTransport(held)) as client:
        first = asyncio.create_task(
            provider.execute(client, {}, request_id="r", deadline=Deadline.after(10_000, clock))
        )
        await asyncio.sleep(0)
        second = await provider.execute(
            client, {}, request_id="r", deadline=Deadline(clock.monotonic(), 0, clock)
        )
        gate.set()
        assert (await first).success
    assert (second.error_kind, second.attempts) == (ErrorKind.BULKHEAD_FULL, 0)


async def test_static_fallback_is_shown_beside_the_error() -> None:
    provider, clock = make(retries=0, fallback="static", fallback_value={"value": 0})
    result = await call(provider, Upstream(httpx.Response(503)), clock)
    assert (result.success, result.error_kind, result.stale) == (False, ErrorKind.HTTP_STATUS, True)
    assert result.data == {"value": 0}
    assert "503" in (result.error_message or "")


async def test_stale_if_error_is_the_last_good_answer_for_the_same_params() -> None:
    provider, clock = make(retries=0, stale_if_error_s=60)
    assert (await call(provider, Upstream(ok(41)), clock, params={"room": "a"})).success
    down = Upstream(httpx.Response(503))
    same = await call(provider, down, clock, params={"room": "a"})
    assert (same.success, same.stale, same.data) == (False, True, {"value": 41})
    other = await call(provider, down, clock, params={"room": "b"})
    assert (other.stale, other.data) == (False, None)
    clock.advance(61)
    expired = await call(provider, down, clock, params={"room": "a"})
    assert (expired.stale, expired.data) == (False, None)


async def test_stale_if_error_keys_unhashable_params_by_their_text() -> None:
    provider, clock = make(retries=0, stale_if_error_s=60)
    rooms: Params = {"room": ["a", "b"]}  # a repeated query parameter
    assert (await call(provider, Upstream(ok(7)), clock, params=rooms)).success
    again = await call(provider, Upstream(httpx.Response(503)), clock, params=rooms)
    assert (again.stale, again.data) == (True, {"value": 7})


async def test_per_call_deadline_ends_a_hanging_call() -> None:
    # The deadline is enforced with asyncio on the loop's time: the system clock, 50 ms.
    provider = Sensor(Settings(_env_file=None, policy_call_timeout_ms=50))
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        return ok()

    async with create_http_client(SETTINGS, transport=httpx.MockTransport(hang)) as client:
        result = await provider.execute(client, {}, request_id="r")
    assert result.error_kind is ErrorKind.TIMEOUT
    assert "50 ms" in (result.error_message or "")


def capped(**policy: Any) -> BaseApiProvider:
    provider, _ = make(**policy)
    return provider


async def fetch_once(provider: BaseApiProvider, handler: Handler) -> ExternalResponse:
    async with create_http_client(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        return await provider.execute(client, {}, request_id="r")


async def test_declared_size_over_the_cap_fails_before_reading() -> None:
    provider = capped(max_response_bytes=100)
    body = b'{"value": 1}' + b" " * 200
    result = await fetch_once(provider, lambda r: httpx.Response(200, content=body))
    assert result.error_kind is ErrorKind.RESPONSE_TOO_LARGE
    assert "Content-Length 212" in (result.error_message or "")


async def test_streamed_body_is_abandoned_at_the_cap() -> None:
    pulled = 0

    async def endless() -> Any:
        nonlocal pulled
        while True:
            pulled += 1
            yield b" " * 1000

    provider = capped(max_response_bytes=10_000)
    result = await fetch_once(provider, lambda r: httpx.Response(200, content=endless()))
    assert result.error_kind is ErrorKind.RESPONSE_TOO_LARGE
    assert pulled <= 11  # stopped right past the cap, never read to the end


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("text/html; charset=utf-8", ErrorKind.INVALID_JSON),
        ("application/problem+json", None),
        ("application/json", None),
    ],
)
async def test_declared_non_json_is_refused(content_type: str, kind: ErrorKind | None) -> None:
    response = httpx.Response(200, content=b'{"value": 2}', headers={"content-type": content_type})
    result = await fetch_once(capped(), lambda r: response)
    assert result.error_kind is kind


def redirecting(location: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/reading":
            return httpx.Response(302, headers={"location": location})
        return ok(7)

    return handler


async def test_redirects_are_off_by_default() -> None:
    result = await fetch_once(capped(), redirecting("/v2/reading"))
    assert (result.error_kind, result.status_code) == (ErrorKind.HTTP_STATUS, 302)


async def test_same_origin_redirects_may_be_allowed() -> None:
    provider = capped(follow_redirects="same_origin")
    result = await fetch_once(provider, redirecting("/v2/reading"))
    assert (result.success, result.data) == (True, {"value": 7})
    elsewhere = await fetch_once(provider, redirecting("https://evil.test/v2/reading"))
    assert (elsewhere.error_kind, elsewhere.status_code) == (ErrorKind.HTTP_STATUS, 302)
    other_port = await fetch_once(provider, redirecting("https://sensor.test:8443/x"))
    assert other_port.status_code == 302


async def test_timeouts_of_a_client_chosen_deadline_do_not_open_the_breaker() -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        return ok()

    provider, clock = make(breaker_window=2, breaker_min_calls=1)
    async with create_http_client(SETTINGS, transport=httpx.MockTransport(hang)) as client:
        tight = Deadline(clock.monotonic() + 0.02, 20, clock, blames_upstream=False)
        result = await provider.execute(client, {}, request_id="r", deadline=tight)
        assert (result.error_kind, result.breaker_state) == (ErrorKind.TIMEOUT, "closed")
        ours = Deadline(clock.monotonic() + 0.02, 20, clock)
        result = await provider.execute(client, {}, request_id="r", deadline=ours)
        assert (result.error_kind, result.breaker_state) == (ErrorKind.TIMEOUT, "open")
