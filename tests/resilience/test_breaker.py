"""The circuit breaker, on a fake clock, against a model of its three states."""

import logging

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from app.resilience.breaker import (
    BREAKER_STATE_LISTENERS,
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
)
from tests.support.clock import FakeClock

CONFIG = BreakerConfig(failure_rate=0.5, window=6, min_calls=4, open_s=10.0, probes=2)


def breaker(config: BreakerConfig = CONFIG) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker("p", config, clock), clock


def run(b: CircuitBreaker, *failures: bool) -> None:
    for failed in failures:
        permit = b.acquire()
        assert permit is not None
        b.record(permit, failed)


def test_opens_on_the_failure_rate_only_after_min_calls() -> None:
    b, _ = breaker()
    run(b, True, True, True)
    assert b.state is BreakerState.CLOSED  # 3 of 3 failed, but min_calls is 4
    run(b, False)
    assert b.state is BreakerState.OPEN  # 3 of 4 >= 50%
    assert b.acquire() is None


def test_sliding_window_forgets_old_failures() -> None:
    b, _ = breaker()
    run(b, True, False, False, False, False, False)  # 1 of 6
    run(b, True, True)  # window now F F F F T T: 2 of 6, the first failure slid out
    assert b.state is BreakerState.CLOSED
    run(b, True)  # 3 of 6 = 50%
    assert b.state is BreakerState.OPEN


def test_half_open_after_the_open_duration_then_closes_on_good_probes() -> None:
    b, clock = breaker()
    run(b, True, True, True, True)
    clock.advance(9.9)
    assert b.acquire() is None
    clock.advance(0.1)
    first, second = b.acquire(), b.acquire()
    assert b.state is BreakerState.HALF_OPEN
    assert first is not None and second is not None
    assert b.acquire() is None  # exactly `probes` go through
    b.record(first, False)
    assert b.state is BreakerState.HALF_OPEN
    b.record(second, False)
    assert b.state is BreakerState.CLOSED


def test_a_failed_probe_reopens_for_the_full_duration() -> None:
    b, clock = breaker()
    run(b, True, True, True, True)
    clock.advance(10)
    permit = b.acquire()
    assert permit is not None
    b.record(permit, True)
    assert b.state is BreakerState.OPEN
    clock.advance(9)
    assert b.acquire() is None


def test_a_cancelled_probe_frees_its_slot() -> None:
    b, clock = breaker(BreakerConfig(window=2, min_calls=1, open_s=1, probes=1))
    run(b, True)
    clock.advance(1)
    permit = b.acquire()
    assert permit is not None
    assert b.acquire() is None
    b.release(permit)
    assert b.acquire() is not None


def test_outcomes_of_an_older_state_are_ignored() -> None:
    b, clock = breaker(BreakerConfig(window=4, min_calls=1, open_s=1, probes=1))
    slow = b.acquire()
    assert slow is not None
    run(b, True)  # opens
    clock.advance(1)
    probe = b.acquire()
    assert probe is not None
    b.record(slow, False)  # started while closed: must not count as the probe
    assert b.state is BreakerState.HALF_OPEN
    b.record(probe, False)
    assert b.state is BreakerState.CLOSED


def test_state_changes_are_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, BreakerState, BreakerState]] = []
    BREAKER_STATE_LISTENERS.append(lambda *change: seen.append(change))
    try:
        b, clock = breaker(BreakerConfig(window=2, min_calls=1, open_s=1, probes=1))
        with caplog.at_level(logging.INFO, logger="app.resilience.breaker"):
            run(b, True)
            clock.advance(1)
            run(b, False)
    finally:
        BREAKER_STATE_LISTENERS.pop()
    assert seen == [
        ("p", BreakerState.CLOSED, BreakerState.OPEN),
        ("p", BreakerState.OPEN, BreakerState.HALF_OPEN),
        ("p", BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert "circuit breaker p: closed -> open" in caplog.text


def test_a_failing_listener_does_not_break_the_breaker() -> None:
    b, _ = breaker(BreakerConfig(window=2, min_calls=1, open_s=1, probes=1))

    def failing_listener(*change: object) -> None:
        raise RuntimeError("a bug in the listener")

    b.listeners.append(failing_listener)
    run(b, True)
    assert b.state is BreakerState.OPEN


@pytest.mark.parametrize(
    "kwargs", [{"failure_rate": 0}, {"window": 3, "min_calls": 4}, {"probes": 0}]
)
def test_bad_configs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


class BreakerModel(RuleBasedStateMachine):
    """A breaker driven by random calls and clock moves, checked against a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.config = BreakerConfig(failure_rate=0.5, window=5, min_calls=3, open_s=5, probes=2)
        self.clock = FakeClock()
        self.breaker = CircuitBreaker("m", self.config, self.clock)
        self.network_calls = 0
        self.in_flight: list[int] = []
        # The model: state, outcomes since the last close, when open ends, probes given out.
        self.state = BreakerState.CLOSED
        self.outcomes: list[bool] = []
        self.open_until = 0.0
        self.probes_given = 0
        self.probes_succeeded = 0
        self.recorded_while_closed = 0  # outcomes the real breaker got since it last closed

    def _call(self) -> int | None:
        """What `execute` does: ask for a permit; only with one is a network call made."""
        expected_allowed = self._model_allows()
        permit = self.breaker.acquire()
        assert (permit is not None) == expected_allowed
        if permit is not None:
            self.network_calls += 1
        return permit

    def _model_allows(self) -> bool:
        if self.state is BreakerState.OPEN:
            if self.clock.monotonic() < self.open_until:
                return False
            self.state, self.probes_given, self.in_flight = BreakerState.HALF_OPEN, 0, []
        if self.state is BreakerState.HALF_OPEN:
            if self.probes_given >= self.config.probes:
                return False
            self.probes_given += 1
        return True

    def _model_record(self, failed: bool) -> None:
        if self.state is BreakerState.CLOSED:
            self.outcomes = [*self.outcomes, failed][-self.config.window :]
            calls = len(self.outcomes)
            if calls >= self.config.min_calls and sum(self.outcomes) >= 0.5 * calls:
                self._model_open()
        elif failed:
            self._model_open()
        else:
            self.probes_succeeded += 1
            if self.probes_succeeded >= self.config.probes:
                self.state, self.outcomes = BreakerState.CLOSED, []
                self.in_flight = []

    def _model_open(self) -> None:
        self.state, self.outcomes = BreakerState.OPEN, []
        self.open_until = self.clock.monotonic() + self.config.open_s
        self.probes_succeeded = 0
        self.in_flight = []

    @rule(failed=st.booleans())
    def call_and_finish(self, failed: bool) -> None:
        before = self.network_calls
        permit = self._call()
        if permit is None:
            assert self.network_calls == before  # open: zero network calls
            return
        self._record(permit, failed)

    def _record(self, permit: int, failed: bool) -> None:
        was = self.breaker.state
        if was is BreakerState.CLOSED:
            self.recorded_while_closed += 1
        self.breaker.record(permit, failed)
        self._model_record(failed)
        now = self.breaker.state
        if was is BreakerState.CLOSED and now is BreakerState.OPEN:
            assert self.recorded_while_closed >= self.config.min_calls
        if now is not was and now is BreakerState.CLOSED:
            self.recorded_while_closed = 0

    @rule()
    def start_probe_and_hold(self) -> None:
        """A call that stays in flight; while half-open it holds one of the probe slots."""
        if self.state is BreakerState.HALF_OPEN or self._is_due_half_open():
            permit = self._call()
            if permit is not None:
                self.in_flight.append(permit)

    @precondition(lambda self: bool(self.in_flight))
    @rule(failed=st.booleans())
    def finish_held(self, failed: bool) -> None:
        permit = self.in_flight.pop()
        self._record(permit, failed)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def _is_due_half_open(self) -> bool:
        return self.state is BreakerState.OPEN and self.clock.monotonic() >= self.open_until

    @invariant()
    def same_state(self) -> None:
        assert self.breaker.state is self.state

    @invariant()
    def never_opens_before_min_calls(self) -> None:
        if self.state is BreakerState.CLOSED:
            assert len(self.outcomes) < self.config.min_calls or (
                sum(self.outcomes) < 0.5 * len(self.outcomes)
            )

    @invariant()
    def half_open_probes_never_exceed_the_setting(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            assert self.probes_given <= self.config.probes


BreakerModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBreakerModel = BreakerModel.TestCase
