"""Long windows from the rollup: counts exactly as from the rows, the window's partial edge
buckets included, percentiles within the histogram's bound, the same numbers on both databases."""

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.calllog import histogram
from app.core.db import create_db_engine
from app.queries.rollups import rollup_window
from app.queries.stats import bucket_seconds, provider_figures, series
from tests.observability.seeding import NOW, call, percentile_cont, seed

PROVIDERS = ("weather", "geocoding", "stock_quotes")
KINDS = [None] * 6 + ["timeout", "http_status", "validation_error", "connection_error"]
UNALIGNED_END = NOW - timedelta(seconds=97, microseconds=300_000)  # 11:58:22.7, mid-bucket


def rows() -> list[dict[str, Any]]:
    rng = random.Random(42)
    seeded = []
    for _ in range(3000):
        kind = rng.choice(KINDS)
        ms = round(rng.lognormvariate(3.6, 0.9) + (900 if kind == "timeout" else 0), 3)
        ago = rng.uniform(-600, 26 * 3600)  # some after NOW, some before every 24h window
        seeded.append(call(rng.choice(PROVIDERS), ms, ago_s=ago, kind=kind))
    # On the edges of the unaligned 24h window: in, out, in, out.
    since = UNALIGNED_END - timedelta(hours=24)
    for at, ms in (
        (since, 11.0),
        (since - timedelta(microseconds=1), 12.0),
        (UNALIGNED_END - timedelta(microseconds=1), 13.0),
        (UNALIGNED_END, 14.0),
    ):
        seeded.append(call("weather", ms, ago_s=(NOW - at).total_seconds(), kind="timeout"))
    return seeded


ROWS = rows()


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    seed(database_url, ROWS)
    engine = create_db_engine(database_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def in_window(since: datetime, until: datetime, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [r for r in ROWS if since <= r["created_at"] < until and r["provider"] in names]


WINDOWS = [
    pytest.param(NOW - timedelta(hours=24), NOW, id="24h-aligned"),
    pytest.param(UNALIGNED_END - timedelta(hours=24), UNALIGNED_END, id="24h-unaligned"),
    pytest.param(UNALIGNED_END - timedelta(hours=6), UNALIGNED_END, id="6h-unaligned"),
    pytest.param(NOW - timedelta(days=7), NOW, id="7d"),
]


@pytest.mark.parametrize(("since", "until"), WINDOWS)
@pytest.mark.parametrize("names", [None, ("weather", "stock_quotes")])
def test_the_rollup_counts_what_the_rows_count(
    session: Session, since: datetime, until: datetime, names: tuple[str, ...] | None
) -> None:
    bucket_s = bucket_seconds(int((until - since).total_seconds()))
    figures, points = rollup_window(session, since, until, bucket_s, names)
    exact = {f.provider: f for f in provider_figures(session, since, until, names)}
    assert [f.provider for f in figures] == sorted(exact)
    for f in figures:
        reference = exact[f.provider]
        assert (f.calls, f.succeeded, f.validation_errors) == (
            reference.calls,
            reference.succeeded,
            reference.validation_errors,
        )
        assert f.errors_by_kind == reference.errors_by_kind
        assert f.last_error == reference.last_error
        for estimate, value in zip(f.percentiles, reference.percentiles, strict=True):
            assert estimate is not None and value is not None
            assert abs(estimate - value) <= histogram.RELATIVE_ERROR_BOUND * value

    exact_points = series(session, since, until, bucket_s, names)
    assert [p.start for p in points] == [p.start for p in exact_points]
    for point, reference_point in zip(points, exact_points, strict=True):
        assert (point.calls, point.failures) == (reference_point.calls, reference_point.failures)
        if reference_point.p95_ms is None:
            assert point.p95_ms is None
        else:
            assert point.p95_ms is not None
            bound = histogram.RELATIVE_ERROR_BOUND * reference_point.p95_ms
            assert abs(point.p95_ms - reference_point.p95_ms) <= bound


def test_the_window_edges_are_counted_exactly(session: Session) -> None:
    since, until = UNALIGNED_END - timedelta(hours=24), UNALIGNED_END
    figures, points = rollup_window(session, since, until, 1800, None)
    expected = in_window(since, until, PROVIDERS)
    assert sum(f.calls for f in figures) == len(expected) == sum(p.calls for p in points)
    weather = next(f for f in figures if f.provider == "weather")
    assert weather.calls == len(in_window(since, until, ("weather",)))
    # The edge rows themselves: 11.0 ms at `since` and 13.0 ms just before `until` only.
    edge_ms = {r["response_time_ms"] for r in expected} & {11.0, 12.0, 13.0, 14.0}
    assert edge_ms == {11.0, 13.0}


@pytest.mark.parametrize(("since", "until"), WINDOWS)
def test_both_databases_answer_the_same_numbers(
    session: Session, since: datetime, until: datetime
) -> None:
    """The histogram of the window's rows, computed here, is what either database answers."""
    bucket_s = bucket_seconds(int((until - since).total_seconds()))
    figures, _ = rollup_window(session, since, until, bucket_s, None)
    for f in figures:
        latencies = [r["response_time_ms"] for r in in_window(since, until, (f.provider,))]
        total = sum(histogram.packed(histogram.latency_bin(ms), [1]) for ms in latencies)
        expected = histogram.percentiles(histogram.unpacked(total), (0.5, 0.95, 0.99))
        assert f.percentiles == pytest.approx(expected, rel=1e-12)
        exact = [percentile_cont(latencies, p) for p in (0.5, 0.95, 0.99)]
        assert f.percentiles == pytest.approx(exact, rel=histogram.RELATIVE_ERROR_BOUND)


def test_a_window_inside_one_bucket_reads_only_rows(session: Session) -> None:
    since, until = NOW - timedelta(seconds=250), NOW - timedelta(seconds=10)
    figures, points = rollup_window(session, since, until, 300, None)
    assert sum(f.calls for f in figures) == len(in_window(since, until, PROVIDERS))
    assert sum(p.calls for p in points) == sum(f.calls for f in figures)
