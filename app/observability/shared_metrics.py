"""One scrape for the whole deployment: every live worker's series, labelled `worker`.

With `REDIS_URL` set, each worker publishes its exposition to Redis with every heartbeat
(`RedisState`, once a second). The worker that takes the scrape answers with its own series
(fresh) and every other live worker's (at most a heartbeat old), each with a `worker` label,
so `sum without (worker) (...)` in Prometheus is the deployment's figure whichever worker
or replica the load balancer picked.
"""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


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
