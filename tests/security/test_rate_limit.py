"""Per-client token buckets: 429 with Retry-After, refills with time, clients independent."""

import pytest

from app.security.rate_limit import RateLimiter, retry_after_header
from app.simulator import Simulator
from tests.security.helpers import app_factory, new_key, serve


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 60  # an idle client saves up no more than the burst
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0


def test_clients_have_their_own_buckets_and_memory_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock, max_clients=2)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("c") == 0.0  # evicts "a", the least recently seen
    assert limiter.acquire("a") == 0.0


def test_a_clock_going_backwards_grants_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock)
    limiter.acquire("a")
    clock.now -= 100
    assert limiter.acquire("a") > 0


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_rounds_up_to_whole_seconds(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


async def test_api_answers_429_with_retry_after_per_key(
    sqlite_url: str, simulator: Simulator
) -> None:
    key_a, entry_a = new_key("a")
    key_b, entry_b = new_key("b")
    app = app_factory(sqlite_url, simulator.url)(
        api_keys=[entry_a, entry_b], rate_limit_per_s=0.25, rate_limit_burst=2
    )
    async with serve(app) as http:
        a = {"X-API-Key": key_a}
        codes = [(await http.get("/integrations/providers", headers=a)).status_code for _ in "123"]
        assert codes == [200, 200, 429]
        limited = await http.get("/integrations/fetch?providers=weather", headers=a)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 4
        assert "'a'" in limited.json()["detail"]
        assert key_a not in limited.text
        other = await http.get("/integrations/providers", headers={"X-API-Key": key_b})
        assert other.status_code == 200
        assert (await http.get("/healthz")).status_code == 200


async def test_zero_rate_turns_the_limit_off(sqlite_url: str, simulator: Simulator) -> None:
    key, entry = new_key("a")
    app = app_factory(sqlite_url, simulator.url)(
        api_keys=[entry], rate_limit_per_s=0, rate_limit_burst=1
    )
    async with serve(app) as http:
        for _ in range(5):
            response = await http.get("/integrations/providers", headers={"X-API-Key": key})
            assert response.status_code == 200
