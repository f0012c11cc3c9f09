"""Admission control: a bound on fan-outs in flight in one worker, and a short, bounded queue.

A fan-out that finds a free slot starts at once. One that does not waits in a queue for at
most `max_wait_s`, and never longer than its own deadline leaves room for: the deadline minus
what recent fan-outs took. The queue holds no more than the fan-outs in flight are expected to
free slots for within half that wait. When even that wait is zero or the queue is full, it is
shed at once (503 with Retry-After) instead of timing out later; a shed request never reaches
a provider.

The queue absorbs bursts; under sustained overload it would only add its whole wait to every
admitted fan-out. So, as Facebook's servers do ("Fail at Scale", ACM Queue 2015): once the
queue has not been empty for `OVERLOAD_INTERVAL_S`, a new waiter waits at most
`OVERLOADED_WAIT_S` (CoDel's target; it matters where `max_wait_s` is set longer to absorb
bursts), and a freed slot goes to the newest waiter (adaptive LIFO): the admitted start
almost at once, the older waiters are shed. While the queue empties now and then, it is
first in, first out.

The bound is static (`limit`), or adaptive: an AIMD limiter in the manner of Netflix's
concurrency-limits, steered by the fan-outs' own latency. Every `window` completions it
compares their mean duration with the lowest mean seen lately (the unloaded latency); above
`tolerance` (1.5) times that, the limit shrinks by a tenth (queueing has begun: more in flight
would only add latency), otherwise it grows by one while the limit was reached in the window.
The baseline fades by time, not by window (1 % a second): at a thousand fan-outs a second a
per-window fade let the baseline climb with the load itself within seconds, so queueing was
never seen. A fan-out's duration counts from when its request head arrived (the server
protocol stamps it, `RECEIVED_SCOPE_KEY`) to the gate, then from the slot's grant to the
answer: the event loop's own lag is part of what the limiter sees, the wait for a slot is not.

Single-threaded: the event loop is the only caller of `acquire` and `release`, so no lock;
`shedding` and `stats` only read.
"""

import asyncio
import logging
import math
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the shed-decision histogram.
SHED_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
# Shedding ends (one log line, /readyz back to "ok") once nothing was shed for this long:
# long enough that a probe every few seconds sees a period of shedding.
QUIET_S = 5.0
_EWMA = 0.1  # weight of one fan-out's duration in the expected-latency average
_MIN_SAMPLES = 20  # before this many, nothing is known of the latency: no deadline refusal
# Per second: an old low baseline fades, so a slower normal (a slower upstream) is learnt
# within about a minute, while a 20 s overload is still measured against the unloaded latency.
_BASELINE_FADE_PER_S = 0.01
# A queue that has not been empty for this long is a standing queue, not a burst (CoDel's
# interval) ...
OVERLOAD_INTERVAL_S = 0.1
# ... and then a new waiter waits at most this long (CoDel's target), newest served first.
OVERLOADED_WAIT_S = 0.005


@dataclass(frozen=True, slots=True)
class AdmissionStats:
    mode: str
    limit: int
    in_flight: int
    queued: int
    admitted: int
    shed_full: int  # shed because no slot freed within the wait
    shed_deadline: int  # shed because the deadline left no room to wait
    shedding: bool
    expected_ms: float
    shed_wait_buckets: tuple[int, ...]  # cumulative counts per SHED_BUCKETS bound, then +Inf
    shed_wait_sum_s: float


class Shed(Exception):
    """The request is refused; `reason` says why in words a client can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Admission:
    def __init__(
        self,
        *,
        limit: int,
        adaptive: bool = False,
        min_limit: int = 4,
        max_wait_s: float = 0.02,
        max_queue: int | None = None,
        window: int = 50,
        tolerance: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_limit = limit
        self.limit = limit
        self.adaptive = adaptive
        self.min_limit = min(min_limit, limit)
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue  # None: as many waiting as the current limit
        self._window = window
        self._tolerance = tolerance
        self._clock = clock
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.admitted = self.shed_full = self.shed_deadline = 0
        self._shed_counts = [0] * (len(SHED_BUCKETS) + 1)
        self._shed_wait_sum = 0.0
        self._expected = 0.0
        self._samples = 0
        self._win_sum = 0.0
        self._win_n = 0
        self._win_full = False
        self._baseline = float("inf")
        self._baseline_at = clock()
        self._last_shed = float("-inf")
        self._queue_empty_at = clock()  # last time no one was waiting
        self._shedding = False
        self._shed_at_transition = 0

    # --- the request path -------------------------------------------------------------------

    async def acquire(self, deadline_s: float) -> float:
        """Take a slot for a fan-out with `deadline_s` to run; returns when it got the slot.

        What the fan-out then takes (`release`) must not count the wait for the slot: a wait
        that grows as the limit is reached would read as latency and cut the limit further.

        Raises `Shed` at once, or after at most the bounded wait, when it cannot start.
        """
        start = self._clock()
        if self._shedding and start - self._last_shed >= QUIET_S:
            self._end_shedding()
        if not self._waiters:
            self._queue_empty_at = start
            if self.in_flight < self.limit:
                self.in_flight += 1
                self._win_full = self._win_full or self.in_flight >= self.limit
                self.admitted += 1
                return start
        room = deadline_s - self.expected_s
        wait = self.max_wait_s
        if self._overloaded(start):
            wait = min(wait, OVERLOADED_WAIT_S)
        budget = min(wait, room)
        if budget <= 0:
            self.shed_deadline += 1
            self._note_shed(start)
            raise Shed(
                "the service is at capacity and the request's deadline (timeout_ms) leaves no "
                "time to wait for a slot: retry later, or with a longer timeout_ms"
            )
        if len(self._waiters) >= self._queue_bound(budget):
            self.shed_full += 1
            self._note_shed(start)
            raise Shed("the service is at capacity: retry after the Retry-After delay")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), budget)
        except TimeoutError:
            if not waiter.done():
                self._waiters.remove(waiter)
                waiter.cancel()
                self.shed_full += 1
                self._note_shed(start)
                raise Shed(
                    "the service is at capacity: retry after the Retry-After delay"
                ) from None
        except asyncio.CancelledError:
            # The client went away while queued: give back a slot handed over meanwhile.
            if waiter.done() and not waiter.cancelled():
                self.release(0.0, sample=False)
            else:
                self._waiters.remove(waiter)
                waiter.cancel()
            raise
        self.admitted += 1
        return self._clock()

    def release(self, duration_s: float, *, sample: bool = True) -> None:
        """Give a slot back; `duration_s` (admission to answer) feeds the latency estimate."""
        if sample:
            self._observe(duration_s)
        if self._waiters:
            lifo = self._overloaded(self._clock())
            while self._waiters and self.in_flight <= self.limit:
                waiter = self._waiters.pop() if lifo else self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot passes straight to the waiter
                    return
        self.in_flight -= 1

    # --- state --------------------------------------------------------------------------------

    def _overloaded(self, now: float) -> bool:
        """A standing queue: someone has been waiting for all of the last interval."""
        if not self._waiters:
            self._queue_empty_at = now
            return False
        return now - self._queue_empty_at > OVERLOAD_INTERVAL_S

    def _queue_bound(self, wait_s: float) -> int:
        """How many may wait: `max_queue` (None: the limit), and no more than the fan-outs in
        flight are expected to free slots for within half of `wait_s` (Little's law: slots
        free at in-flight over what one takes).

        A waiter beyond that would most likely be shed when its wait ends, at a moment the
        loop's lag only makes later: under `wrk -c1000` most sheds came after their 5 ms wait,
        and 12-17 % after 10 ms. Refused now, it is answered within the loop turn it arrived
        in. Half, because completions come in bursts, not one every mean interval. At least
        one, so a slot that frees finds someone; the full bound while nothing is known.
        """
        bound = self.limit if self.max_queue is None else self.max_queue
        expected = self.expected_s
        if expected > 0:
            bound = min(bound, max(1, math.floor(self.in_flight * wait_s / 2 / expected)))
        return bound

    @property
    def expected_s(self) -> float:
        """What recent fan-outs took (an average); 0 until enough were seen."""
        return self._expected if self._samples >= _MIN_SAMPLES else 0.0

    def shedding(self) -> bool:
        """True while requests are shed, and for QUIET_S after the last one.

        A pure read, so `/readyz` may ask from its worker thread; the end of a shedding
        period is logged by the next request to arrive.
        """
        return self._clock() - self._last_shed < QUIET_S

    def _end_shedding(self) -> None:
        self._shedding = False
        logger.warning(
            "admission: admitting again; %d requests shed while overloaded",
            self.shed_full + self.shed_deadline - self._shed_at_transition,
        )

    def stats(self) -> AdmissionStats:
        counts, running = [], 0
        for count in self._shed_counts:
            running += count
            counts.append(running)
        return AdmissionStats(
            mode="adaptive" if self.adaptive else "static",
            limit=self.limit,
            in_flight=self.in_flight,
            queued=len(self._waiters),
            admitted=self.admitted,
            shed_full=self.shed_full,
            shed_deadline=self.shed_deadline,
            shedding=self.shedding(),
            expected_ms=self.expected_s * 1000,
            shed_wait_buckets=tuple(counts),
            shed_wait_sum_s=self._shed_wait_sum,
        )

    def _note_shed(self, start: float) -> None:
        now = self._clock()
        waited = now - start
        self._shed_counts[bisect_left(SHED_BUCKETS, waited)] += 1
        self._shed_wait_sum += waited
        self._last_shed = now
        if not self._shedding:
            self._shedding = True
            self._shed_at_transition = self.shed_full + self.shed_deadline - 1
            logger.warning(
                "admission: shedding; %d fan-outs in flight (limit %d), %d queued",
                self.in_flight,
                self.limit,
                len(self._waiters),
            )

    def _observe(self, duration_s: float) -> None:
        self._samples += 1
        if self._samples == 1:
            self._expected = duration_s
        else:
            self._expected += _EWMA * (duration_s - self._expected)
        if not self.adaptive:
            return
        self._win_sum += duration_s
        self._win_n += 1
        if self._win_n < self._window:
            return
        mean = self._win_sum / self._win_n
        now = self._clock()
        fade = 1.0 + _BASELINE_FADE_PER_S * (now - self._baseline_at)
        self._baseline, self._baseline_at = min(self._baseline * fade, mean), now
        if mean > self._tolerance * self._baseline:
            self.limit = max(self.min_limit, self.limit * 9 // 10)
        elif self._win_full:
            self.limit = min(self.max_limit, self.limit + 1)
        self._win_sum, self._win_n, self._win_full = 0.0, 0, False
