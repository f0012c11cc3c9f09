"""CPU per upstream call: a provider declared in a file vs a hand-written one, same call.

    taskset -c 0 .venv/bin/python -m bench.file_providers --upstream-cpus 1

Two managers of 20 providers each against `bench.upstream` (another process, never failing),
CPU of the calling process (`time.process_time`, GC off during rounds) per upstream call. Both
make the same call: `GET {upstream}/<name>/data?city=<param, default Seoul>&units=metric` with
an `X-Api-Key` header, and check the same answer shape (`{name: str, ok: bool, value: int}`):

* code: a `BaseApiProvider` subclass: `get_json` with a query dict and a header dict, a pydantic
  `response_model`;
* file: the same provider as a YAML file (`auth: api_key` in a header, `query` templates, a
  JSON Schema under `response.schema`), loaded by `app.integrations.files`.

Rounds interleave the two (alternating which goes first); the median of the per-round ratios
is reported. Target: file <= 1.05x code.
"""

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from pydantic import BaseModel

from app.core.config import Settings
from app.http import HttpClient, create_http_client
from app.integrations.base import BaseApiProvider, Params
from app.integrations.files import load_file
from app.integrations.manager import ApiIntegrationManager
from bench._proc import start_upstream, stop

FANOUT = 20
KEY = "bench-api-key-000000"
POLICY = {"retries": 0, "breaker_enabled": False, "max_concurrency": None}

FILE = """
name: {name}
request:
  url: "{base}/{name}/data"
  query: {{city: "{{city}}", units: metric}}
params:
  city: {{default: Seoul}}
auth: {{type: api_key, in: header, name: X-Api-Key, value: {key}}}
response:
  schema:
    type: object
    required: [name, ok, value]
    properties:
      name: {{type: string}}
      ok: {{type: boolean}}
      value: {{type: integer}}
policy: {{retries: 0, breaker_enabled: false, max_concurrency: null}}
"""


class Answer(BaseModel):
    name: str
    ok: bool
    value: int


class _Code(BaseApiProvider):
    response_model = Answer
    policy_overrides = POLICY
    url = ""

    @property
    def endpoint(self) -> str:
        return self.url

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        query = {"city": str(params.get("city", "Seoul")), "units": "metric"}
        return await self.get_json(client, self.url, params=query, headers={"X-Api-Key": KEY})


def _names(tag: str) -> list[str]:
    # One length in both variants: the upstream echoes the name in the body.
    return [f"{tag}_{i:02d}" for i in range(FANOUT)]


def _managers(base: str, directory: Path) -> dict[str, ApiIntegrationManager]:
    settings = Settings(_env_file=None, demo_upstream_url=base)
    code = []
    for name in _names("code"):
        cls = type(name, (_Code,), {"name": name, "url": f"{base}/{name}/data"})
        code.append(cls(settings))
    files = []
    for name in _names("file"):
        path = directory / f"{name}.yaml"
        path.write_text(FILE.format(name=name, base=base, key=KEY))
        files.append(load_file(path)(settings))
    return {
        "code": ApiIntegrationManager(code, None, default_timeout_ms=5000),
        "file": ApiIntegrationManager(files, None, default_timeout_ms=5000),
    }


async def measure(base: str, fanouts: int, rounds: int) -> dict[str, list[float]]:
    client = create_http_client(Settings(_env_file=None))
    with tempfile.TemporaryDirectory() as directory:
        variants = _managers(base, Path(directory))
    for manager in variants.values():  # warm up: connections open, caches filled
        for _ in range(20):
            result = await manager.fetch_all(client, {})
            assert result.summary.succeeded == FANOUT, result.results[0].error_message
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants.items())
    gc.disable()
    for _ in range(rounds):
        order.reverse()
        for name, manager in order:
            gc.collect()
            start = time.process_time()
            for _ in range(fanouts):
                await manager.fetch_all(client, {})
            samples[name].append((time.process_time() - start) / (fanouts * FANOUT) * 1e6)
    gc.enable()
    await client.aclose()
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.file_providers")
    parser.add_argument("--fanouts", type=int, default=10, help="fan-outs per round")
    parser.add_argument("--rounds", type=int, default=61)
    parser.add_argument("--upstream-cpus", default=None, help="taskset CPU list for upstream")
    args = parser.parse_args(argv)
    upstream, base = start_upstream(args.upstream_cpus)
    try:
        samples = uvloop.run(measure(base, args.fanouts, args.rounds))
    finally:
        stop(upstream)
    print(f"\nCPU per upstream call ({args.rounds} rounds x {args.fanouts} fan-outs of {FANOUT})\n")
    print("| provider | CPU us / call (median) | min..max | vs code (median of round ratios) |")
    print("|---|---:|---:|---:|")
    for name, values in samples.items():
        ratio = statistics.median(a / c for a, c in zip(values, samples["code"], strict=True))
        spread = f"{min(values):.1f}..{max(values):.1f}"
        print(f"| {name} | {statistics.median(values):.1f} | {spread} | {ratio:.3f}x |")
    print("\ntarget: file <= 1.05x code")


if __name__ == "__main__":
    main()
