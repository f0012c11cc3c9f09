"""Retry decisions, token bucket, bulkhead, fallbacks and policy layering, on a fake clock."""

import asyncio
import random
import re
from datetime import UTC, datetime

import pytest

from app.core.config import Settings
from app.main import create_app
from app.resilience.bulkhead import Bulkhead
from app.resilience.fallback import Fallback
from app.resilience.policy import (
    PolicyError,
    ProviderPolicy,
    build_policy,
    check_policy_names,
    policy_defaults,
    validate_policy_settings,
)
from app.resilience.rate_limit import TokenBucket
from app.resilience.retry import (
    MAX_RETRY_AFTER_S,
    RetryConfig,
    backoff_s,
    decide,
    parse_retry_after,
)
from tests.support.clock import FakeClock
from tests.support.providers import demo_registry

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    config = RetryConfig(retries=5, base_delay_s=0.1, max_delay_s=0.5)
    rng = random.Random(1)
    for retry_number, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (5, 0.5)]:
        waits = [backoff_s(config, retry_number, rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # jitter spans the range, not a fixed step


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 2026 00:00:07 GMT", 7.0),
        ("soon", None),
        ("", None),
        ("\u00b2", None),  # a digit to str.isdigit, not to float()
        # Past what "now + wait" can date: clamped.
        ("1000000000000", MAX_RETRY_AFTER_S),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_only_idempotent_methods_retry_unless_opted_in() -> None:
    assert RetryConfig().allows("GET")
    assert not RetryConfig().allows("POST")
    assert RetryConfig(non_idempotent=True).allows("POST")
    assert not RetryConfig(retries=0).allows("GET")


def _decide(**kwargs: object) -> object:
    values: dict[str, object] = {
        "now": 0.0,
        "deadline": 10.0,
        "last_attempt_s": 0.1,
        "retry_after_s": None,
        "rng": random.Random(0),
    }
    values.update(kwargs)
    config = RetryConfig(retries=2, base_delay_s=1.0, max_delay_s=1.0)
    return decide(config, values.pop("retry_number", 1), **values)  # type: ignore[arg-type]


def test_a_retry_that_cannot_finish_before_the_deadline_is_not_started() -> None:
    assert _decide().wait_s is not None  # type: ignore[attr-defined]
    # Any wait plus a 2 s attempt cannot fit in the 1.5 s left.
    late = _decide(now=8.5, last_attempt_s=2.0)
    assert late.wait_s is None  # type: ignore[attr-defined]
    assert _decide(retry_number=3).wait_s is None  # type: ignore[attr-defined]


def test_retry_after_is_honoured_or_ends_the_call_at_once() -> None:
    honoured = _decide(retry_after_s=4.0)
    assert honoured.wait_s == 4.0  # type: ignore[attr-defined]
    past = _decide(retry_after_s=30.0)
    assert (past.wait_s, past.past_deadline) == (None, True)  # type: ignore[attr-defined]


def test_token_bucket_waits_within_the_deadline_else_refuses() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2, burst=2, clock=clock)
    now = clock.monotonic()
    assert bucket.reserve(now + 1) == 0
    assert bucket.reserve(now + 1) == 0
    assert bucket.reserve(now + 1) == pytest.approx(0.5)  # in debt: the next token in 0.5 s
    assert bucket.reserve(now + 0.9) is None  # would need 1.0 s: refused, nothing taken
    assert bucket.wait_for_next() == pytest.approx(1.0)
    clock.advance(1.0)
    assert bucket.reserve(clock.monotonic()) == 0
    bucket.refund()
    assert bucket.reserve(clock.monotonic()) == 0


async def test_bulkhead_caps_in_flight_calls_and_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    bulkhead = Bulkhead(2, clock)
    assert await bulkhead.acquire(clock.monotonic() + 1)
    assert await bulkhead.acquire(clock.monotonic() + 1)
    assert bulkhead.in_flight == 2
    assert not await bulkhead.acquire(clock.monotonic())  # full, no time left
    waiter = asyncio.create_task(bulkhead.acquire(clock.monotonic() + 60))
    await asyncio.sleep(0)
    assert not waiter.done()
    bulkhead.release()
    assert await asyncio.wait_for(waiter, 5)
    assert bulkhead.in_flight == 2


def test_fallback_static() -> None:
    assert Fallback(static={"v": 1}).value() == {"v": 1}
    assert Fallback().value() is None


def test_policy_layers_settings_then_class_then_environment() -> None:
    settings = Settings(
        _env_file=None, policy_retries=1, provider_policies={"weather": {"retries": 4}}
    )
    defaults = policy_defaults(settings)
    assert build_policy("other", defaults, {}, {}).retries == 1
    assert build_policy("other", defaults, {"retries": 0}, {}).retries == 0
    env = settings.provider_policies["weather"]
    assert build_policy("weather", defaults, {"retries": 0}, env).retries == 4


@pytest.mark.parametrize(
    ("class_overrides", "env_overrides", "named"),
    [
        (
            {"retrys": 1},
            {},
            "weather.policy_overrides (class attribute): unknown policy key(s) 'retrys'",
        ),
        ({}, {"max_concurency": 1}, "PROVIDER_POLICIES['weather']: unknown policy key(s)"),
        ({}, {"breaker_failure_rate": 3}, "breaker_failure_rate: Input should be less"),
        ({"fallback": "static"}, {}, "fallback 'static' needs a fallback_value"),
    ],
)
def test_bad_policies_name_the_provider_and_the_key(
    class_overrides: dict[str, object], env_overrides: dict[str, object], named: str
) -> None:
    defaults = policy_defaults(Settings(_env_file=None))
    with pytest.raises(PolicyError, match=re.escape(named)):
        build_policy("weather", defaults, class_overrides, env_overrides)


def test_policy_settings_are_checked_when_the_app_is_built() -> None:
    bad_key = Settings(_env_file=None, provider_policies={"weather": {"retrys": 3}})
    with pytest.raises(PolicyError, match="PROVIDER_POLICIES\\['weather'\\]: unknown policy key"):
        validate_policy_settings(bad_key)
    with pytest.raises(PolicyError, match="POLICY_RETRIES"):
        validate_policy_settings(Settings(_env_file=None, policy_retries=-1))
    with pytest.raises(PolicyError, match="POLICY_RETRIES"):
        create_app(
            Settings(_env_file=None, policy_retries=-1),
            registry=demo_registry(),
        )


def test_every_policy_default_comes_from_one_setting() -> None:
    # One place for each default: the model has none of its own (but the static value's).
    for field, info in ProviderPolicy.model_fields.items():
        if field == "fallback_value":
            continue
        assert info.is_required(), f"{field} has a default of its own"
        assert f"policy_{field}" in Settings.model_fields


def test_policies_for_unknown_providers_are_refused() -> None:
    check_policy_names(["weather"], ["weather", "geocoding"])
    with pytest.raises(PolicyError, match="unknown provider\\(s\\) 'wether'"):
        check_policy_names(["wether"], ["weather"])
