"""Request ids: 128 random bits as 32 hex digits, like `uuid.uuid4().hex`, but cheaper.

`uuid4` reads `os.urandom`, and CPython releases the GIL around that `getrandom` call: the
call-log writer's threads then take the GIL and the event loop waits up to a switch interval
(5 ms) to get it back, once per request. The ids need to be unique, not unguessable, so a
`random.Random` seeded from `os.urandom` does: once at import, and again in every forked
child (a pre-forking server or supervisor would otherwise hand each child the same sequence).
"""

import os
import random

_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)


def new_request_id() -> str:
    return f"{_random.getrandbits(128):032x}"
