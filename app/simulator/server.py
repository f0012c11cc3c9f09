"""`Simulator`: the external APIs of the demo providers, served from this process.

`GET /<provider>/<anything>?<query>` answers that provider's JSON after its latency; with
probability `error_rate` it answers 503 instead, and the drifting API (see `catalog`) breaks
its own schema with probability `drift_rate`. `GET /healthz` answers 200 at once. The APIs
for auth schemes, a POST and an array answer are in `secured.py` (`Simulator.secured`); they
answer at once and never fail by chance.
"""

import asyncio
import random
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import orjson

from app.simulator.catalog import CATALOG, Endpoint
from app.simulator.http import HttpServer, Response
from app.simulator.secured import SecuredApis

_JSON = [("Content-Type", "application/json")]
_HEALTHY = Response(200, _JSON, b'{"status":"ok"}')


def _json(status: int, payload: Any) -> Response:
    return Response(status, _JSON, orjson.dumps(payload))


class Simulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_scale: float = 1.0,
        error_rate: float = 0.03,
        drift_rate: float = 0.25,
        seed: int | None = None,
    ) -> None:
        if latency_scale < 0:
            raise ValueError("latency_scale must be >= 0")
        for label, rate in (("error_rate", error_rate), ("drift_rate", drift_rate)):
            if not 0 <= rate <= 1:
                raise ValueError(f"{label} must be between 0 and 1")
        self.latency_scale = latency_scale
        self.error_rate = error_rate
        self.drift_rate = drift_rate
        self._rng = random.Random(seed)
        self.secured = SecuredApis()
        self._http = HttpServer(self.handle, host, port)

    @property
    def host(self) -> str:
        return self._http.host

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def connections_total(self) -> int:
        """Connections accepted since start; lets tests check keep-alive."""
        return self._http.connections_total

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> Response | Awaitable[Response]:
        """Answer at once when there is no latency; else return a coroutine that waits."""
        path, _, query_string = target.partition("?")
        secured = self.secured.handle(method, path, query_string, headers, body)
        if secured is not None:
            return secured
        if method != "GET":
            return Response(405, [("Allow", "GET"), *_JSON], b'{"error":"method_not_allowed"}')
        if path == "/healthz":
            return _HEALTHY
        name = path.split("/", 2)[1]
        endpoint = CATALOG.get(name)
        if endpoint is None:
            return _json(404, {"error": "not_found", "detail": f"no simulated API {name!r}"})
        response = self._answer(name, endpoint, query_string)
        delay = endpoint.latency_ms * self.latency_scale * self._rng.uniform(0.6, 1.6) / 1000
        if delay <= 0:
            return response
        return self._after(delay, response)

    def _answer(self, name: str, endpoint: Endpoint, query_string: str) -> Response:
        rng = self._rng
        if rng.random() < self.error_rate:
            return _json(503, {"error": "unavailable", "detail": f"{name} is overloaded"})
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        payload = endpoint.factory(rng, query)
        if endpoint.drift is not None and rng.random() < self.drift_rate:
            payload = endpoint.drift(payload)
        return _json(200, payload)

    @staticmethod
    async def _after(delay: float, response: Response) -> Response:
        await asyncio.sleep(delay)
        return response
