"""The garbage collector's schedule: tuned for the app's lifetime, undone at shutdown."""

import gc

from app.core.runtime import tune_gc
from app.main import create_app
from tests.conftest import api_client, make_settings


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


async def test_the_app_freezes_its_startup_heap_while_it_runs(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9"))
    async for client in api_client(app):
        assert (await client.get("/healthz")).status_code == 200
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 20_000
    assert gc.get_freeze_count() == 0
