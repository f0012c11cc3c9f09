"""The HTTP client: how every upstream call leaves the process.

The provider framework (`app.integrations`) sees this module's names and nothing else:

* `HttpClient`: an `httpx.AsyncClient` with `fetch_json`, a JSON request (any method, an
  optional body) whose answer is read under a size cap.
  Providers call it (or httpx's own API); it chooses its path itself, so a test's
  `httpx.MockTransport` or a future transport plugs in with `create_http_client(settings,
  transport)` and no caller checks which client it holds.
* `create_http_client`: the shared client, built once by the app's lifespan.
* `CallState` and `current_call`: what one provider call saw on the wire (attempts, last
  status), filled in by the client on either path; with tracing on, `AttemptTrace` and
  `current_attempt` the same for one attempt, whose span the client sends upstream.

Inside, one module per job:

    client.py             HttpClient: path choice, URL and header caches
    factory.py            create_http_client: the shared client from the settings
    pool.py               ConnectionPool: our keep-alive HTTP/1.1 pool (the direct path)
    connection.py         Connection: one socket of it, answers parsed by httptools
    aiohttp_transport.py  AiohttpTransport: httpx's own requests, over aiohttp
    body.py               capped body reads, JSON content types, same-origin redirects,
                          and fetch_json's httpx path
    tracking.py           CallState, AttemptTrace, their context variables and the hooks
                          that fill them in
    urls.py               URL cache keys, header merges, URL userinfo as Basic auth

Failures are httpx's exceptions (`httpx.TimeoutException`, `httpx.TransportError`, ...) and
the typed errors of `app.core.errors` (`UpstreamStatusError`, `InvalidPayloadError`,
`ResponseTooLargeError`); `BaseApiProvider` maps both to an `ErrorKind`.
"""

from app.http.client import HttpClient
from app.http.factory import create_http_client
from app.http.tracking import AttemptTrace, CallState, current_attempt, current_call

__all__ = [
    "AttemptTrace",
    "CallState",
    "HttpClient",
    "create_http_client",
    "current_attempt",
    "current_call",
]
