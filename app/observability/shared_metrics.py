"""One scrape for the whole deployment: every live worker's series, labelled `worker`.

With `REDIS_URL` set, each worker publishes its exposition to Redis with every heartbeat
(`RedisState`, once a second). The worker that takes the scrape answers with its own series
(fresh) and every other live worker's (at most a heartbeat old), each with a `worker` label,
so `sum without (worker) (...)` in Prometheus is the deployment's figure whichever worker
or replica the load balancer picked.
"""

import asyncio
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from app.state.shared import RedisState


class _Fixed(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def merge(expositions: dict[str, bytes]) -> bytes:
    """Workers' expositions (by worker id) as one, every sample labelled with its worker."""
    families: dict[str, Metric] = {}
    for worker, text in expositions.items():
        for family in text_string_to_metric_families(text.decode()):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for sample in family.samples:
                merged.samples.append(sample._replace(labels={**sample.labels, "worker": worker}))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families.values()))
    return generate_latest(registry)


async def published(state: RedisState) -> dict[str, bytes]:
    """Every other live worker's last published metrics, by worker id (none while degraded)."""
    if state.degraded:
        return {}
    try:
        workers = await asyncio.wait_for(
            state.redis.zrange(state.key("workers"), 0, -1), state.timeout_s
        )
        names = [w.decode() if isinstance(w, bytes) else str(w) for w in workers]
        others = [w for w in names if w != state.worker_id]
        if not others:
            return {}
        texts = await asyncio.wait_for(
            state.redis.mget([state.key("metrics", w) for w in others]), state.timeout_s
        )
    except (RedisError, OSError, TimeoutError):
        return {}  # a scrape still answers, with this worker's own series
    return {w: t for w, t in zip(others, texts, strict=True) if isinstance(t, bytes)}
