"""Latency histograms of the call-log rollup: log-spaced bins, stored dense, read as percentiles.

Bin `b` holds latencies in [BASE_MS * GROWTH**b, BASE_MS * GROWTH**(b + 1)); bin 0 also takes
everything faster, the last bin everything slower (past ~14 hours). A percentile read from a
histogram falls in the same bin as `percentile_cont` over the raw latencies, so it is within one
bin width of it: a relative error below `RELATIVE_ERROR_BOUND` (4 %), or 0.104 ms absolute for
latencies under 0.104 ms. Bin numbers come from this module alone (never from SQL `ln()`), so
the writer, the rebuild and the read of the window's edges bin every latency the same way.
"""

import math
import sys
from array import array
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate

BASE_MS = 0.1
GROWTH = 1.04
BIN_COUNT = 512
RELATIVE_ERROR_BOUND = GROWTH - 1

_LOG_GROWTH = math.log(GROWTH)
_FIRST_EDGE_MS = BASE_MS * GROWTH
_LAST_EDGE_MS = BASE_MS * GROWTH ** (BIN_COUNT - 1)
_FIELD_BITS = 64
_BIG_ENDIAN = sys.byteorder == "big"


def latency_bin(ms: float) -> int:
    if ms < _FIRST_EDGE_MS:
        return 0
    if not ms < _LAST_EDGE_MS:  # also infinity and NaN, which no log() can bin
        return BIN_COUNT - 1
    return min(int(math.log(ms / BASE_MS) / _LOG_GROWTH), BIN_COUNT - 1)


def to_dense(bins: Mapping[int, int]) -> tuple[int, list[int]]:
    """(first bin, counts from it on): one provider's latencies span a few dozen bins."""
    if not bins:
        return 0, []
    first, last = min(bins), max(bins)
    return first, [bins.get(b, 0) for b in range(first, last + 1)]


def packed(first: int, counts: Sequence[int]) -> int:
    """A histogram as one integer holding a 64-bit field per bin, bin 0 lowest.

    Adding two packed histograms is one integer addition, done in C: merging thousands of
    stored buckets is the hot loop of a long window's stats, and a Python loop over their bins
    costs several times more. No field can carry into the next: no bin reaches 2**64 calls.
    """
    fields = array("Q", counts)
    if _BIG_ENDIAN:
        fields.byteswap()
    return int.from_bytes(fields.tobytes(), "little") << (first * _FIELD_BITS)


def dense(total: int) -> tuple[int, list[int]]:
    """A packed histogram as `to_dense` gives it: (first non-empty bin, counts up to the last)."""
    if not total:
        return 0, []
    first = ((total & -total).bit_length() - 1) // _FIELD_BITS
    last = (total.bit_length() - 1) // _FIELD_BITS
    fields = array("Q")
    fields.frombytes((total >> (first * _FIELD_BITS)).to_bytes((last - first + 1) * 8, "little"))
    if _BIG_ENDIAN:
        fields.byteswap()
    return first, fields.tolist()


def unpacked(total: int) -> list[int]:
    """Calls per bin, for every bin."""
    fields = array("Q")
    fields.frombytes(total.to_bytes(BIN_COUNT * _FIELD_BITS // 8, "little"))
    if _BIG_ENDIAN:
        fields.byteswap()
    return fields.tolist()


def _value_at(total: Sequence[int], cumulative: Sequence[int], rank: int) -> float:
    """The `rank`-th smallest latency (0-based), assuming a bin's values spread evenly in it."""
    b = bisect_right(cumulative, rank)
    count = total[b]
    within = (rank - (cumulative[b] - count) + 0.5) / count
    if b == 0:  # [0, first edge): linear, a log scale has no zero
        return _FIRST_EDGE_MS * within
    # Log-spaced bins: spread geometrically, so the estimate never leaves the bin.
    return float(BASE_MS * GROWTH ** (b + within))


def percentiles(total: Sequence[int], fractions: Sequence[float]) -> list[float | None]:
    """`percentile_cont` read from a histogram: interpolate between the two nearest ranks."""
    cumulative = list(accumulate(total))
    n = cumulative[-1] if cumulative else 0
    if n == 0:
        return [None] * len(fractions)
    found: list[float | None] = []
    for p in fractions:
        position = p * (n - 1)
        low = int(position)
        value = _value_at(total, cumulative, low)
        if position > low:
            upper = _value_at(total, cumulative, low + 1)
            value += (upper - value) * (position - low)
        found.append(value)
    return found
