"""Ids for requests and call-log rows: 32 hex digits in the UUIDv7 layout.

The first 48 bits are the Unix time in milliseconds and the other 76 random, so ids made
later sort later: rows inserted into an index on them land at its right edge, touching a
few pages per commit, where random ids (`uuid4`) would dirty a page per request all over the
index. Both the row id (`log_id`) and the generated request id are indexed columns.

Not `uuid4` for a second reason: it reads `os.urandom`, and CPython releases the GIL around
that `getrandom` call; the call-log writer's threads then take the GIL and the event loop
waits up to a switch interval (5 ms) to get it back. The ids need to be unique, not
unguessable, so a `random.Random` seeded from `os.urandom` does: once at import, and again in
every forked child (a pre-forking server would otherwise hand each child the same sequence).
"""

import os
import random
import time

_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)


def time_ordered_id() -> str:
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _random.getrandbits(76)
    return f"{value:032x}"


new_request_id = time_ordered_id
new_log_id = time_ordered_id
