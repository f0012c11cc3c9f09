"""Latency histograms: bins, packing, and percentiles within one bin width of the exact ones."""

import math
import random

import pytest

from app.calllog.histogram import (
    BASE_MS,
    BIN_COUNT,
    GROWTH,
    RELATIVE_ERROR_BOUND,
    dense,
    latency_bin,
    packed,
    percentiles,
    to_dense,
    unpacked,
)
from tests.observability.seeding import percentile_cont

FRACTIONS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)


def histogram_of(values: list[float]) -> list[int]:
    total = 0
    for value in values:
        total += packed(latency_bin(value), [1])
    return unpacked(total)


def lower_edge(b: int) -> float:
    return 0.0 if b == 0 else BASE_MS * GROWTH**b


@pytest.mark.parametrize("ms", [0.0, 0.05, 0.1, 0.104, 0.5, 1.0, 12.5, 999.0, 3.6e6])
def test_a_latency_falls_inside_its_bin(ms: float) -> None:
    b = latency_bin(ms)
    assert lower_edge(b) * (1 - 1e-12) <= ms < BASE_MS * GROWTH ** (b + 1) * (1 + 1e-12)


def test_out_of_range_latencies_go_to_the_end_bins() -> None:
    assert latency_bin(-3.0) == 0
    assert latency_bin(1e30) == BIN_COUNT - 1
    assert latency_bin(math.inf) == BIN_COUNT - 1
    assert latency_bin(math.nan) == BIN_COUNT - 1


def test_packing_adds_histograms_bin_by_bin() -> None:
    a = {3: 2, 5: 1, 200: 7}
    b = {5: 4, 511: 2**40}
    merged = unpacked(packed(*to_dense(a)) + packed(*to_dense(b)))
    assert len(merged) == BIN_COUNT
    assert {i: n for i, n in enumerate(merged) if n} == {3: 2, 5: 5, 200: 7, 511: 2**40}
    assert to_dense({}) == (0, [])
    assert unpacked(packed(0, [])) == [0] * BIN_COUNT


@pytest.mark.parametrize(
    "bins",
    [{}, {0: 1}, {511: 3}, {0: 2, 511: 1}, {9: 2**63}, {7: 1, 9: 2**63}, {100: 5, 140: 1}],
)
def test_a_packed_histogram_reads_back_dense_as_it_was_packed(bins: dict[int, int]) -> None:
    # The writer packs its tallies and stores them dense again: nothing may move a bin.
    assert dense(packed(*to_dense(bins))) == to_dense(bins)


def test_random_packed_histograms_read_back_dense() -> None:
    rng = random.Random(3)
    for _ in range(200):
        low = rng.randrange(BIN_COUNT)
        bins = {rng.randrange(low, BIN_COUNT): rng.randrange(1, 2**40) for _ in range(5)}
        assert dense(packed(*to_dense(bins))) == to_dense(bins)


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert percentiles([0] * BIN_COUNT, (0.5, 0.99)) == [None, None]


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: r.lognormvariate(3.5, 0.8),  # a typical upstream
        lambda r: 5 + 120 * r.random() ** 2 + (900 if r.random() < 0.02 else 0),  # the bench's
        lambda r: r.choice([12.0, 12.0, 40.0, 250.0]),  # heavy ties
        lambda r: r.expovariate(1 / 0.08),  # under a millisecond, bin 0 included
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 20_000])
def test_percentiles_are_within_the_stated_bound_of_percentile_cont(draw: object, n: int) -> None:
    rng = random.Random(n)
    values = [draw(rng) for _ in range(n)]  # type: ignore[operator]
    estimated = percentiles(histogram_of(values), FRACTIONS)
    for p, estimate in zip(FRACTIONS, estimated, strict=True):
        exact = percentile_cont(values, p)
        assert estimate is not None
        # Relative within one bin; below the first bin edge, within that bin absolutely.
        tolerance = max(RELATIVE_ERROR_BOUND * exact, BASE_MS * GROWTH)
        assert abs(estimate - exact) <= tolerance, (p, exact, estimate)
