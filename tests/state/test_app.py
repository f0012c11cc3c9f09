"""Two apps on one Redis play two workers of one deployment, driven in-process."""

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.simulator import Simulator
from tests.conftest import make_settings
from tests.security.helpers import new_key, serve
from tests.support.providers import demo_registry
from tests.support.redis_server import RedisServer


async def test_client_limits_quotas_readiness_and_metrics_are_the_deployments(
    tmp_path: Path, own_redis: RedisServer, simulator: Simulator
) -> None:
    key, entry = new_key("alice")
    scraper, scraper_entry = new_key("prometheus")
    settings = make_settings(
        f"sqlite:///{tmp_path / 'calls.db'}",
        demo_upstream_url=simulator.url,
        redis_url=own_redis.url,
        api_keys=[entry, scraper_entry],
        rate_limit_per_s=0.01,
        rate_limit_burst=3,
        provider_policies={"weather": {"rate_limit_per_s": 0.01, "rate_limit_burst": 1}},
    )
    headers = {"X-API-Key": key}
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(serve(create_app(settings, registry=demo_registry())))
        two = await stack.enter_async_context(serve(create_app(settings, registry=demo_registry())))
        url = "/integrations/fetch?providers=weather"
        first = (await one.get(url, headers=headers)).json()
        second = (await two.get(url, headers=headers)).json()
        assert first["results"][0]["success"]
        # The provider's quota of one call was spent in the other worker.
        assert second["results"][0]["error_kind"] == "rate_limited"
        # The key's burst of 3 requests: two spent above, one left for the deployment.
        third = await one.get(url, headers=headers)
        assert third.status_code == 200
        assert third.json()["results"][0]["error_kind"] == "rate_limited"
        refused = await two.get(url, headers=headers)
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers

        ready = (await two.get("/readyz")).json()
        assert ready["ok"]
        assert not ready["degraded"]
        assert ready["checks"]["shared_state"]["detail"] == "shared through Redis (2 live workers)"

        # The observers count calls on their own threads: poll (bounded) until both counted,
        # then worker one publishes (as its heartbeat does every second) and two is scraped.
        apps = [c._transport.app for c in (one, two)]  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while [_calls(app.state.metrics.exposition()) for app in apps] != [2.0, 1.0]:
            assert time.monotonic() < deadline, "the observers did not count the calls"
            await asyncio.sleep(0.02)
        for _ in range(2):  # the second publishes what the first learnt: 2 live workers
            await apps[0].state.shared_state._beat()
        scrape = (await two.get("/metrics", headers={"X-API-Key": scraper})).text
    families = {f.name: f for f in text_string_to_metric_families(scrape)}
    calls = {
        (sample.labels["worker"], sample.labels["error_kind"]): sample.value
        for sample in families["fanout_provider_calls"].samples
        if sample.name.endswith("_total")
    }
    # Worker one: a success and a refusal by the spent quota; worker two: a refusal.
    ids = [app.state.shared_state.worker_id for app in apps]
    assert calls == {
        (ids[0], ""): 1.0,
        (ids[0], "rate_limited"): 1.0,
        (ids[1], "rate_limited"): 1.0,
    }
    live = families["fanout_shared_state_live_workers"].samples
    assert [s.value for s in live] == [2.0, 2.0]


def _calls(exposition: bytes) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition.decode())
        if family.name == "fanout_provider_calls"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def test_without_redis_nothing_changes(tmp_path: Path, simulator: Simulator) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'c.db'}", demo_upstream_url=simulator.url)
    app = create_app(settings, registry=demo_registry())
    async with serve(app, ("127.0.0.1", 4000)) as client:
        ready = (await client.get("/readyz")).json()
        scrape = (await client.get("/metrics")).text
    assert "shared_state" not in ready["checks"]
    assert "worker=" not in scrape
    assert "fanout_shared_state" not in scrape
    assert app.state.shared_state is None
