"""`create_http_client`: the one shared client, as the settings and the lifespan build it.

Apart from the client's class (`client.py`) so that building it (which transports, which
pool, which timeouts) reads in one place, and a test passes a transport of its own here.
"""

import httpx

from app.core.config import Settings
from app.http.aiohttp_transport import AiohttpTransport
from app.http.client import HttpClient
from app.http.pool import ConnectionPool


def create_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> HttpClient:
    """Build the shared client; tests pass an `httpx.MockTransport` or a respx router.

    Without a transport: httpx's requests run on `AiohttpTransport` and `fetch_json` on our
    own `ConnectionPool`, each holding at most `HTTP_MAX_CONNECTIONS`. With one, every call
    goes through it.
    """
    timeout = httpx.Timeout(
        settings.http_read_timeout_s,
        connect=settings.http_connect_timeout_s,
        pool=settings.http_connect_timeout_s,
    )
    pool = None
    if transport is None:
        transport = AiohttpTransport(
            max_connections=settings.http_max_connections,
            keepalive_expiry=settings.http_keepalive_expiry_s,
        )
        pool = ConnectionPool(
            max_connections=settings.http_max_connections,
            keepalive_expiry=settings.http_keepalive_expiry_s,
        )
    return HttpClient(
        transport=transport,
        pool=pool,
        timeout=timeout,
        # Redirects could leave the provider's origin: off unless a provider follows them itself.
        follow_redirects=False,
        headers={"User-Agent": "api-fanout/0.1"},
    )
