"""One process of `bench.tracing_cost --fanout`: CPU per upstream call of `fetch_all` alone.

Run by path with `PYTHONPATH` set to the tree under test (it imports only `app`), so the same
loop measures the tree before tracing and this one. Prints `cpu_us_per_call <value>`.
"""

import argparse
import asyncio
import os
import time


async def _run(upstream: str, fanouts: int, tracing: bool) -> float:
    from app.core.config import Settings
    from app.http import create_http_client
    from app.integrations.manager import ApiIntegrationManager
    from app.integrations.registry import ProviderRegistry

    settings = Settings(_env_file=None, demo_upstream_url=upstream)
    providers = [cls(settings) for cls in ProviderRegistry.from_package().classes()]
    manager = ApiIntegrationManager(providers, None, default_timeout_ms=5000)
    client = create_http_client(settings)
    provider = None
    if tracing:
        from app.observability.tracing import start_tracing

        provider = start_tracing()
        assert provider is not None, "set OTEL_EXPORTER_OTLP_ENDPOINT"
    try:
        for _ in range(50):  # warm-up: connections, caches
            await manager.fetch_all(client, {"city": "Seoul"})
        started = time.process_time()  # every thread of the process: the exporter's too
        for _ in range(fanouts):
            response = await manager.fetch_all(client, {"city": "Seoul"})
            assert response.summary.failed == 0, response.results
        if provider is not None:
            provider.force_flush()  # what these fan-outs cost to export, inside the window
        return (time.process_time() - started) / (fanouts * len(providers)) * 1e6
    finally:
        await client.aclose()
        if provider is not None:
            provider.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--fanouts", type=int, default=300)
    args = parser.parse_args()
    tracing = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    print(f"cpu_us_per_call {asyncio.run(_run(args.upstream, args.fanouts, tracing)):.3f}")


if __name__ == "__main__":
    main()
