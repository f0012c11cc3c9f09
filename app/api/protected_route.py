"""`ProtectedRoute`: a protected route FastAPI documents from its declaration but does not resolve.

FastAPI (0.16x) resolves a route's dependencies on every request, about 20 us apiece; for the
fan-out GET, the key check's chain (`require_client` and its two header schemes, also declared
on the router) and the route's own came to ~135 us of a 3-provider fan-out's ~640 (bench/README.md,
"Overload"). A route of this class is declared like any other, so its OpenAPI operation (the
security schemes, parameters, responses) is what the declaration says, but a request calls
`endpoint(request, principal)` directly:

- the principal comes from `authenticate`, the key check every protected route gets, so
  skipping the declared dependencies never skips it, whatever router the route is put on;
- everything else the endpoint reads from the request itself (`api/fetch_query.py`).

Its endpoint must therefore take exactly `(request, principal)`; `check_endpoint` says so at
import time rather than at the first request.
"""

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.security.auth import authenticate

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ProtectedRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        check_endpoint(self.endpoint)
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request, await authenticate(request))
            return response

        return handler


def check_endpoint(endpoint: Callable[..., Any]) -> None:
    """An endpoint a `ProtectedRoute` can call: `async def f(request, principal)`."""
    parameters = list(inspect.signature(endpoint).parameters)
    if not inspect.iscoroutinefunction(endpoint) or len(parameters) != 2:
        raise TypeError(
            f"{endpoint.__qualname__}: a ProtectedRoute endpoint is `async def` and takes "
            f"exactly (request, principal), not {parameters}"
        )
