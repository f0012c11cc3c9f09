"""CPU of the redaction step on the hot path, per 20-provider fan-out.

    .venv/bin/python -m bench.redaction [--rounds 7] [--fanouts 2000]

Each fan-out redacts the 20 demo providers' simulator payloads (`redact_data`, what
`BaseApiProvider.execute` does to every result) and, for the failures, one error message
each (`redact_text`). Reported: the median over rounds of microseconds per fan-out, next to
the cost of serialising the same payloads with orjson as a yardstick, the cost with one
configured secret (the demo key), and the node-by-node walk the screening dump avoids.
"""

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from app.security.redaction import Redactor
from app.simulator.catalog import CATALOG, build_payload

ERRORS = [
    "upstream answered HTTP 503",
    "ConnectError: All connection attempts failed for http://upstream.test:8080/weather/current"
    "?city=Seoul&units=metric",
    "response does not match StockQuotes: quotes.0.price: Input should be a valid number",
]


def _payloads() -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [build_payload(name, rng) for name in sorted(CATALOG)]


def _per_fanout_us(work: Callable[[], object], fanouts: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(fanouts):
            work()
        samples.append((time.process_time() - start) / fanouts * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fanouts", type=int, default=2000)
    args = parser.parse_args()
    payloads = _payloads()
    plain = Redactor()
    keyed = Redactor(secrets=["demo-key-0123456789abcdef"])

    def redact_with(redactor: Redactor) -> Callable[[], object]:
        def fanout() -> object:
            for payload in payloads:
                redactor.data(payload)
            for message in ERRORS:
                redactor.text(message)
            return None

        return fanout

    def walk_everything() -> object:
        # Without the screening dump: what `redact_data` cost before it (an A/B of the change).
        for payload in payloads:
            plain._walk(payload)
        for message in ERRORS:
            plain.text(message)
        return None

    def serialise() -> object:
        return [orjson.dumps(p) for p in payloads]

    for label, work in (
        ("redaction, no secrets configured", redact_with(plain)),
        ("redaction, one secret configured", redact_with(keyed)),
        ("redaction walking every node (no screen)", walk_everything),
        ("orjson.dumps of the same payloads", serialise),
    ):
        us = _per_fanout_us(work, args.fanouts, args.rounds)
        print(f"{label:40s} {us:8.1f} us per 20-provider fan-out")


if __name__ == "__main__":
    main()
