"""Policy state that several workers or replicas can share: quotas, breakers, client limits.

`StateBackend` (backend.py) is what the policies ask. `InProcessState` (memory.py) keeps it in
this process; `RedisState` (shared.py) keeps it in Redis, one Lua script round trip per batch
of operations, and falls back to an `InProcessState` holding this worker's share of each quota
while Redis does not answer. With `REDIS_URL` unset no backend is built at all: the policies
keep their own in-process objects, exactly as before shared state existed.
"""

from app.state.backend import Admission, BucketSpec, StateBackend, StateStatus
from app.state.memory import InProcessState

__all__ = ["Admission", "BucketSpec", "InProcessState", "StateBackend", "StateStatus"]
