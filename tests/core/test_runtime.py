"""The garbage collector's schedule and the switch interval: tuned for the app's lifetime,
undone at shutdown."""

import gc
import logging
import resource
import sys
from collections.abc import Iterator

import pytest

from app.core.runtime import (
    OPEN_FILES_HEADROOM,
    ensure_open_files,
    tune_gc,
    tune_switch_interval,
)
from app.main import create_app
from tests.conftest import api_client, make_settings
from tests.support.providers import demo_registry


def test_tune_gc_freezes_the_heap_and_undo_restores_the_schedule() -> None:
    before = gc.get_threshold()
    undo = tune_gc(freeze_startup_heap=True, gen0_threshold=12_345)
    try:
        assert gc.get_threshold() == (12_345, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        undo()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_threshold_and_no_freeze_leave_the_collector_alone() -> None:
    before = gc.get_threshold()
    undo = tune_gc(freeze_startup_heap=False, gen0_threshold=0)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
    undo()
    assert gc.get_threshold() == before


async def test_the_app_freezes_its_startup_heap_while_it_runs(
    sqlite_url: str, switch_interval: float
) -> None:
    interval_before = 0.004  # a value no app sets: the undo must bring this one back
    sys.setswitchinterval(interval_before)
    app = create_app(
        make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9"), registry=demo_registry()
    )
    async for client in api_client(app):
        assert (await client.get("/healthz")).status_code == 200
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 20_000
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == pytest.approx(interval_before)  # the app's undo ran


def test_zero_switch_interval_keeps_the_interpreters() -> None:
    before = sys.getswitchinterval()
    undo = tune_switch_interval(0)
    assert sys.getswitchinterval() == before
    undo()
    undo = tune_switch_interval(2)
    assert sys.getswitchinterval() == pytest.approx(0.002)
    undo()
    assert sys.getswitchinterval() == before


@pytest.fixture
def switch_interval() -> Iterator[float]:
    """The process gets its own switch interval back after the test."""
    before = sys.getswitchinterval()
    yield before
    sys.setswitchinterval(before)


@pytest.fixture
def open_files_limit() -> Iterator[tuple[int, int]]:
    """The test lowers the soft limit itself; the process gets its own limit back after."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_a_low_soft_limit_is_raised_to_what_the_pool_needs(
    open_files_limit: tuple[int, int],
) -> None:
    _, hard = open_files_limit
    pool = 300
    needed = pool + OPEN_FILES_HEADROOM
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"hard open-file limit {hard} is below {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed - 100, hard))
    assert ensure_open_files(pool) == needed
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (needed, hard)
    # Already enough: left as it is.
    assert ensure_open_files(pool - 50) == needed


def test_a_hard_limit_below_the_need_is_used_and_warned_about(
    open_files_limit: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, hard = open_files_limit
    if hard == resource.RLIM_INFINITY or hard < 64:
        pytest.skip("needs a finite hard open-file limit")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard // 2, hard))
    with caplog.at_level(logging.WARNING, logger="app.core.runtime"):
        assert ensure_open_files(hard) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    assert "raise `ulimit -n`" in caplog.text
