"""The one `httpx.AsyncClient` of the app, on our aiohttp transport (`transport.py`).

Measured by `bench/transport_cpu.py` (20 concurrent GETs to a local server in another
process, CPU of the calling process per fan-out): httpx's default transport costs about 10x
raw aiohttp (httpcore's pool bookkeeping, h11 parsing in Python); httpx-aiohttp about 3x and
it maps errors wrongly; our transport about 2.5x with the cookie jar off. See bench/README.md.

The client keeps the httpx API, so providers and tests are unchanged, and any transport
(`httpx.MockTransport`, a respx router) can still be passed in.
"""

from collections.abc import Mapping
from typing import Any

import httpx
from yarl import URL

from app.core.config import Settings
from app.integrations.native_http import Fetched
from app.integrations.tracking import CALL_TRACKING_HOOKS, current_call
from app.integrations.transport import AiohttpTransport


class NoCookies(httpx.Cookies):
    """A jar that never stores what a response sets.

    The client is shared by every request of the process, so a `Set-Cookie` from one
    upstream must not ride along on calls made for other callers (or to other providers on
    the same host). It also skips `extract_cookies`, which emulates urllib's cookiejar on
    every response and was a visible share of the per-call CPU.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


_URL_CACHE_SIZE = 4096
_REQUEST_ID = "X-Request-ID"
_HEADER_SETS = 256  # distinct (client headers, provider headers) pairs: a handful in practice
_SCALARS = (str, int, float, bool)


class FanoutClient(httpx.AsyncClient):
    """`httpx.AsyncClient` with no client-level cookie jar and a cache of built URLs.

    * Cookies: the client-level jar is always empty (see `NoCookies`); a request may still
      send cookies of its own with `cookies=...`.
    * URLs: `client.get(url_string, params={...})` makes httpx parse the URL twice (once for
      the base URL merge, once for the params merge), IDNA/IPv4 checks and percent-quoting
      included: about a third of the client's CPU per call. Providers call the same URL
      with the same params again and again, so the final `httpx.URL` is cached per
      (url string, params) and the request is built from it with no params left to merge.
      Only plain string URLs with a mapping of scalar params are cached; anything else
      takes httpx's normal path. The result is the very `httpx.URL` httpx itself built.
    """

    _NO_COOKIES = NoCookies()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._url_cache: dict[tuple[str, tuple[tuple[str, Any], ...]], httpx.URL] = {}
        self._direct_urls: dict[tuple[str, tuple[tuple[str, Any], ...]], URL] = {}
        self._merged_headers: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        transport = kwargs.get("transport")
        # The direct path stands in for our transport and the call-tracking hooks only.
        self._direct = (
            transport
            if isinstance(transport, AiohttpTransport)
            and not kwargs.get("mounts")
            and kwargs.get("event_hooks") is CALL_TRACKING_HOOKS
            else None
        )
        # True when `fetch_capped` may be used: our transport, no hooks but call tracking, no
        # client-level params. An attribute, not a property: every provider call reads it.
        self.has_direct_path = self._direct is not None and not self._params

    @property
    def params(self) -> httpx.QueryParams:
        return self._params

    @params.setter
    def params(self, params: Any) -> None:
        self._params = httpx.QueryParams(params)
        self.has_direct_path = self._direct is not None and not self._params

    async def fetch_capped(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        timeouts: httpx.Timeout | None,
        limit: int,
    ) -> Fetched:
        """GET with the body read up to `limit` bytes, skipping httpx's request/response.

        What `get_json` would do through `send`, for a fraction of the CPU (bench/README.md):
        the URL httpx builds (cached), the client's headers merged the way httpx merges
        them, the client's or the given timeouts, the call-tracking hooks' bookkeeping, and
        the transport's error mapping (httpx exceptions). Only when `has_direct_path`.
        """
        transport = self._direct
        assert transport is not None, "no direct path: check has_direct_path first"
        key = _cache_key(url, params)
        target = self._direct_urls.get(key) if key is not None else None
        if target is None:
            built = super().build_request("GET", url, params=params).url
            target = URL(str(built), encoded=True)
            if key is not None:
                if len(self._direct_urls) >= _URL_CACHE_SIZE:
                    self._direct_urls.clear()
                self._direct_urls[key] = target
        state = current_call.get()
        request_id = None
        if state is not None:
            state.attempts += 1
            request_id = state.request_id
        sent = self._headers_for(headers, request_id)
        spec = timeouts or self.timeout
        fetched = await transport.fetch(target, sent, (spec.connect, spec.read, spec.pool), limit)
        if state is not None:
            state.status_code = fetched.status
        return fetched

    def _headers_for(
        self, extra: Mapping[str, str] | None, request_id: str | None
    ) -> list[tuple[str, str]]:
        """The client's headers merged with `extra`, decoded once per distinct pair.

        The call's `X-Request-ID`, when there is one, replaces any the provider set (as the
        hook does), so it is left out of the cached merge and appended per call.
        """
        key = (tuple(self.headers.raw), tuple(extra.items()) if extra else (), request_id is None)
        merged = self._merged_headers.get(key)
        if merged is None:
            merged = _merged_headers(self.headers, extra)
            if request_id is not None:
                merged = [item for item in merged if item[0].lower() != "x-request-id"]
            if len(self._merged_headers) >= _HEADER_SETS:
                self._merged_headers.clear()
            self._merged_headers[key] = merged
        return merged if request_id is None else [*merged, (_REQUEST_ID, request_id)]

    def build_request(
        self, method: str, url: httpx.URL | str, *, params: Any = None, **kwargs: Any
    ) -> httpx.Request:
        key = _cache_key(url, params) if not self.params else None
        if key is None:
            return super().build_request(method, url, params=params, **kwargs)
        cached = self._url_cache.get(key)
        if cached is not None:
            return super().build_request(method, cached, **kwargs)
        request = super().build_request(method, url, params=params, **kwargs)
        if len(self._url_cache) >= _URL_CACHE_SIZE:
            self._url_cache.clear()
        self._url_cache[key] = request.url
        return request

    @property
    def cookies(self) -> httpx.Cookies:
        return self._NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise AttributeError("the shared client keeps no cookies; pass them per request")


def _cache_key(url: object, params: object) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    if type(url) is not str:
        return None
    if params is None:
        return (url, ())
    if type(params) is not dict:
        return None
    items = tuple(params.items())
    for name, value in items:
        if type(name) is not str or not isinstance(value, _SCALARS):
            return None
    # (key, 1) and (key, True) or (key, 1.0) hash alike but encode differently.
    return (url, tuple((name, (type(value), value)) for name, value in items))


def _merged_headers(
    defaults: httpx.Headers, extra: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    """The client's headers, each overridden by a same-named (any case) request header.

    Among the request's own, the last of one name (any case) wins, as in `httpx.Headers`.
    """
    encoding = defaults.encoding
    if not extra:
        return [(name.decode(encoding), value.decode(encoding)) for name, value in defaults.raw]
    last = {name.lower(): (name, value) for name, value in extra.items()}
    merged = [
        (name.decode(encoding), value.decode(encoding))
        for name, value in defaults.raw
        if name.decode(encoding).lower() not in last
    ]
    merged.extend(last.values())
    return merged


def create_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Build the shared client; tests pass an `httpx.MockTransport` or a respx router."""
    timeout = httpx.Timeout(
        settings.http_read_timeout_s,
        connect=settings.http_connect_timeout_s,
        pool=settings.http_connect_timeout_s,
    )
    if transport is None:
        transport = AiohttpTransport(
            max_connections=settings.http_max_connections,
            keepalive_expiry=settings.http_keepalive_expiry_s,
        )
    return FanoutClient(
        transport=transport,
        timeout=timeout,
        # Redirects could leave the provider's origin: off unless a provider follows them itself.
        follow_redirects=False,
        event_hooks=CALL_TRACKING_HOOKS,
        headers={"User-Agent": "api-fanout/0.1"},
    )
