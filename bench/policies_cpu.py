"""CPU per upstream call with every resilience policy on vs all off, in one run.

    .venv/bin/python -m bench.policies_cpu [--fanouts 10] [--rounds 61] [--split]

The upstream (`bench.upstream`) runs in its own process and never fails. This process runs
managers of 20 demo-shaped providers each on uvloop and measures its own CPU
(`time.process_time`) per fan-out, i.e. per 20 upstream calls. Every variant runs the same
provider code (`DemoProvider._fetch` through `get_json`: content type and JSON object checked);
only the `ProviderPolicy` differs:

* off: every policy knob off: `retries=0`, no breaker, no token bucket, no bulkhead, no
  fallback, no size cap (`max_response_bytes` = sys.maxsize), and no deadline handed to the
  providers (the manager's own wait still ends the request);
* defaults: what ships (2 retries, breaker, bulkhead of 50, 1 MiB cap, the request deadline);
* on: the defaults plus a token bucket that never runs dry, a per-call deadline and the
  stale-if-error cache (the response cache keeping answers for failures only).

`bare` is for reference only: no policy runner work either, and a read with no content-type
or JSON-object check (what `off` measured before it ran the providers' own code).

Rounds interleave the variants (alternating which goes first); the median of the
per-round ratios is reported.
"""

import argparse
import gc
import statistics
import sys
import time
from typing import Any

import uvloop

from app.core.config import Settings
from app.http import HttpClient, create_http_client
from app.integrations.base import Params
from app.integrations.manager import ApiIntegrationManager
from app.integrations.providers._demo import DemoProvider
from app.integrations.schemas import ExternalResponse
from app.resilience import compiled
from app.resilience.deadline import Deadline
from bench._proc import start_upstream, stop

FANOUT = 20

OFF: dict[str, Any] = {
    "retries": 0,
    "breaker_enabled": False,
    "rate_limit_per_s": None,
    "max_concurrency": None,
    "max_response_bytes": sys.maxsize,
    "fallback": "none",
}
ON: dict[str, Any] = {
    "call_timeout_ms": 4000,
    "rate_limit_per_s": 1_000_000.0,
    "rate_limit_burst": 1_000_000,
    "stale_if_error_s": 300.0,
}


class _Bench(DemoProvider):
    path = "data"
    query = {"city": "Seoul", "units": "metric"}


class _NoDeadline(_Bench):
    """Policies off: the provider's own code, and no deadline of its own to enforce."""

    async def execute(
        self,
        client: HttpClient,
        params: Params,
        *,
        request_id: str,
        deadline: Deadline | None = None,
        use_cache: bool = True,
    ) -> ExternalResponse:
        # No deadline of its own, as before the policies (the manager's wait still has one).
        return await super().execute(client, params, request_id=request_id, use_cache=use_cache)


class _Plain(_NoDeadline):
    """`bare`: the whole body on the client's direct path, no object check."""

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        query = {key: str(params.get(key, default)) for key, default in self.query.items()}
        if not client.has_direct_path:
            return self.parse_json_object(await client.get(self._url, params=query))
        payload: dict[str, Any] = await client.fetch_json(
            self._url, params=query, limit=sys.maxsize
        )
        return payload


_TAG_WIDTH = 20  # the longest variant name, "with_call_deadline", and then some


def _providers(base: type[_Bench], policy: dict[str, Any], tag: str) -> list[_Bench]:
    settings = Settings(_env_file=None, demo_upstream_url=None)
    out = []
    for i in range(FANOUT):
        # Names of one length in every variant: the upstream echoes the name in the body, and
        # a longer name is a longer body to parse and screen for secrets on every call.
        name = f"{tag:_<{_TAG_WIDTH}}{i:02d}"
        cls = type(name, (base,), {"name": name, "policy_overrides": policy})
        out.append(cls(settings))
    return out


# `--split`: the defaults plus one of the policies "on" adds, to see what each costs.
SPLIT: dict[str, dict[str, Any]] = {
    "with_bucket": {
        "rate_limit_per_s": ON["rate_limit_per_s"],
        "rate_limit_burst": ON["rate_limit_burst"],
    },
    "with_call_deadline": {"call_timeout_ms": ON["call_timeout_ms"]},
    "with_stale_if_error": {"stale_if_error_s": ON["stale_if_error_s"]},
}


async def measure(
    base_url: str, fanouts: int, rounds: int, split: bool = False
) -> dict[str, list[float]]:
    settings = Settings(_env_file=None, demo_upstream_url=base_url)
    client = create_http_client(settings)
    variants: dict[str, ApiIntegrationManager] = {}
    plan: list[tuple[str, type[_Bench], dict[str, Any]]] = [
        ("off", _NoDeadline, OFF),
        ("bare", _Plain, OFF),
        ("defaults", _Bench, {}),
        *((tag, _Bench, policy) for tag, policy in SPLIT.items() if split),
        ("on", _Bench, ON),
    ]
    for tag, cls, policy in plan:
        providers = _providers(cls, policy, tag)
        for p in providers:
            p._url = f"{base_url}/{p.name}/{p.path}"
        variants[tag] = ApiIntegrationManager(providers, None, default_timeout_ms=5000)
    for manager in variants.values():  # warm up: connections open, caches filled
        for _ in range(20):
            await manager.fetch_all(client, {})
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants.items())
    gc.disable()
    for _ in range(rounds):
        order.reverse()  # alternate which variant goes first, against drift on a busy machine
        for name, manager in order:
            # A collection landing in one variant's round is noise, not that variant's cost.
            gc.collect()
            start = time.process_time()
            for _ in range(fanouts):
                result = await manager.fetch_all(client, {})
                assert result.summary.succeeded == FANOUT, result.results[0].error_message
            samples[name].append((time.process_time() - start) / (fanouts * FANOUT) * 1e6)
    gc.enable()
    await client.aclose()
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.policies_cpu")
    parser.add_argument("--fanouts", type=int, default=10, help="fan-outs per round")
    parser.add_argument("--rounds", type=int, default=61)
    parser.add_argument("--upstream-cpus", default=None, help="taskset CPU list for upstream")
    parser.add_argument("--split", action="store_true", help="also defaults + each policy")
    args = parser.parse_args(argv)
    upstream, base_url = start_upstream(args.upstream_cpus)
    try:
        samples = uvloop.run(measure(base_url, args.fanouts, args.rounds, args.split))
    finally:
        stop(upstream)
    build = "compiled by mypyc" if compiled() else "Python (see setup.py to compile them)"
    print(
        f"\nCPU per upstream call ({args.rounds} rounds x {args.fanouts} fan-outs of {FANOUT}); "
        f"policy modules: {build}\n"
    )
    print("| policies | CPU us / call (median) | min..max | vs off (median of round ratios) |")
    print("|---|---:|---:|---:|")
    for name, values in samples.items():
        ratio = statistics.median(a / o for a, o in zip(values, samples["off"], strict=True))
        spread = f"{min(values):.1f}..{max(values):.1f}"
        print(f"| {name} | {statistics.median(values):.1f} | {spread} | {ratio:.3f}x |")
    print("\ntarget: on <= 1.05x off")


if __name__ == "__main__":
    main()
