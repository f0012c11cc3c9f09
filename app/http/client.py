"""`HttpClient`: the one client of the app, and the only thing providers call.

It is an `httpx.AsyncClient` (providers and tests keep httpx's API, `MockTransport` and respx)
with one method of its own, `fetch_json`: a request (any method, an optional body) whose
JSON answer is read under a size cap. That method chooses its own path, so no caller ever
asks which client it holds:

* the direct path, on a client built with our `ConnectionPool` (`factory.py`): the
  URL httpx would build (cached), no `httpx.Request`/`httpx.Response`, our own HTTP/1.1
  pool (`pool.py`). Every provider call in production takes it;
* httpx's path, on any other client (a test's `MockTransport`, a respx router, a client with
  extra hooks, params or mounts) or when the call follows redirects: the same checks and
  errors through `send(stream=True)` (`body.py`).

httpx's own requests (`client.get`, `client.post`, ...) run on `AiohttpTransport`
(`aiohttp_transport.py`). Measured by `bench/transport_cpu.py` (20 concurrent GETs to a local
server in another process, CPU of the calling process per fan-out): httpx's default transport
costs about 10x raw aiohttp, ours about 2.5x, the direct path a third of raw aiohttp.
"""

from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from aiohttp.hdrs import CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER
from yarl import URL

from app.core.errors import ResponseTooLargeError, UpstreamStatusError
from app.core.spans import LightSpan
from app.core.tracing import TRACE_HEADERS, TRACEPARENT, TRACESTATE
from app.http import body
from app.http.pool import ConnectionPool, Fetched
from app.http.tracking import CALL_TRACKING_HOOKS, current_attempt, current_call
from app.http.urls import cache_key as _cache_key
from app.http.urls import merged_headers as _merged_headers
from app.http.urls import split_userinfo as _split_userinfo
from app.http.urls import with_query


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


class HttpClient(httpx.AsyncClient):
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

    def __init__(self, *, pool: ConnectionPool | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("event_hooks", CALL_TRACKING_HOOKS)
        super().__init__(**kwargs)
        self._url_cache: dict[tuple[str, tuple[tuple[str, Any], ...]], httpx.URL] = {}
        self._direct_urls: dict[tuple[str, tuple[tuple[str, Any], ...]], URL] = {}
        self._url_heads: dict[str, str] = {}  # url -> httpx's build of it, without the query
        self._merged_headers: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        self._userinfo: dict[str, tuple[str, str | None]] = {}
        # The direct path does what the call-tracking hooks do, and nothing other hooks or
        # mounts would: with those, every call goes through httpx.
        self._pool = (
            pool
            if not kwargs.get("mounts") and kwargs["event_hooks"] is CALL_TRACKING_HOOKS
            else None
        )
        # An attribute, not a property: every provider call reads it.
        self.has_direct_path = self._pool is not None and not self._params

    @property
    def params(self) -> httpx.QueryParams:
        return self._params

    @params.setter
    def params(self, params: Any) -> None:
        self._params = httpx.QueryParams(params)
        self.has_direct_path = self._pool is not None and not self._params

    async def fetch_json(
        self,
        url: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeouts: httpx.Timeout | None = None,
        limit: int,
        same_origin_redirects: bool = False,
    ) -> Any:
        """Send `method` `url` (with `content` as the body) and return the answer's JSON value,
        its body read up to `limit` bytes. The caller sets the body's Content-Type.

        A non-2xx answer raises `UpstreamStatusError`, a declared non-JSON type
        `InvalidPayloadError`, a body over the cap `ResponseTooLargeError`, and a body that is
        not JSON `orjson.JSONDecodeError`; the network's failures are httpx's exceptions.
        `timeouts` replace the client's; redirects are followed only to the same origin, only
        for GET, and only when asked. Userinfo in `url` (`https://user:pw@host/`) is sent as a
        Basic `Authorization` header (unless `headers` hold one), never as part of the URL.

        The direct path runs in this coroutine rather than one more below it: every call of
        every provider runs it.
        """
        if "@" in url:
            url, headers = self._userinfo_as_basic(url, headers)
        if not self.has_direct_path or same_origin_redirects:
            return await body.fetch_json_via_httpx(
                self,
                method,
                url,
                params,
                headers,
                content,
                timeouts,
                limit,
                same_origin_redirects and method == "GET",
            )
        fetched = await self._fetch_capped(url, params, headers, timeouts, limit, method, content)
        status, response_headers = fetched.status, fetched.headers
        if not 200 <= status < 300:
            raise UpstreamStatusError(status, fetched.reason, response_headers.get(RETRY_AFTER))
        content_type = response_headers.get(CONTENT_TYPE)
        if content_type is not None and "json" not in content_type.lower():
            raise body.not_json(content_type)
        if fetched.body is None:
            raise ResponseTooLargeError(limit, fetched.declared_length)
        if CONTENT_ENCODING in response_headers:
            # Rare (upstreams answer small JSON plainly): let httpx decode it, capped as ever.
            encoded = httpx.Response(
                status,
                headers=list(response_headers.items()),
                stream=httpx.ByteStream(fetched.body),
            )
            return orjson.loads(await body.read_capped(encoded, limit, None))
        return orjson.loads(fetched.body)

    def _userinfo_as_basic(
        self, url: str, headers: Mapping[str, str] | None
    ) -> tuple[str, Mapping[str, str] | None]:
        """`url` without its userinfo, and `headers` with it as Basic auth (cached per URL).

        httpx would send it as Basic auth but then refuses any `Authorization` header of our
        own, and the direct path would drop it: both paths take it out here.
        """
        split = self._userinfo.get(url)
        if split is None:
            split = _split_userinfo(url)
            if len(self._userinfo) >= _URL_CACHE_SIZE:
                self._userinfo.clear()
            self._userinfo[url] = split
        clean, authorization = split
        if authorization is None:
            return url, headers
        if headers and any(name.lower() == "authorization" for name in headers):
            return clean, headers
        return clean, {**(headers or {}), "Authorization": authorization}

    async def _fetch_capped(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        timeouts: httpx.Timeout | None,
        limit: int,
        method: str = "GET",
        content: bytes | None = None,
    ) -> Fetched:
        """A request on our pool, the body read up to `limit` bytes, skipping httpx's objects.

        What httpx would send: the URL it builds (cached), the client's headers merged the
        way it merges them, the client's or the given timeouts, the call-tracking hooks'
        bookkeeping, and httpx's exceptions. Only when `has_direct_path`.
        """
        pool = self._pool
        assert pool is not None, "no direct path: check has_direct_path first"
        key = _cache_key(url, params)
        target = self._direct_urls.get(key) if key is not None else None
        if target is None:
            target = URL(self._direct_url(url, params), encoded=True)
            if key is not None:
                if len(self._direct_urls) >= _URL_CACHE_SIZE:
                    self._direct_urls.clear()
                self._direct_urls[key] = target
        state = current_call.get()
        request_id = attempt = parent = None
        if state is not None:
            state.attempts += 1
            request_id = state.request_id
            if state.traced:  # tracing on: a span goes upstream as the parent
                parent = state.parent
                if parent is None:
                    attempt = current_attempt.get()
                    if attempt is not None:
                        attempt.url = target  # for the attempt's span
                        parent = attempt.span
        sent = self._headers_for(headers, request_id, parent)
        spec = timeouts or self.timeout
        fetched = await pool.request(
            method, target, sent, content, (spec.connect, spec.read, spec.pool), limit
        )
        if state is not None:
            state.status_code = fetched.status
            state.headers = fetched.headers
            if attempt is not None:
                attempt.status_code = fetched.status
        return fetched

    def _direct_url(self, url: str, params: Mapping[str, Any] | None) -> str:
        """The URL httpx would build for `url` and `params`, as text.

        Params vary per request in real traffic (a city, an id), so the cache above mostly
        misses, and httpx's full build was ~70 us a call. httpx's rule is that request params
        replace the URL's own query: only they are encoded per call (`with_query`), onto
        httpx's parse of `url` made once per URL.
        """
        if type(params) is not dict or "#" in url:
            return str(super().build_request("GET", url, params=params).url)
        head = self._url_heads.get(url)
        if head is None:
            head = str(super().build_request("GET", url).url.copy_with(query=None))
            if len(self._url_heads) >= _URL_CACHE_SIZE:
                self._url_heads.clear()
            self._url_heads[url] = head
        return with_query(head, params)

    def _headers_for(
        self,
        extra: Mapping[str, str] | None,
        request_id: str | None,
        span: LightSpan | None = None,
    ) -> list[tuple[str, str]]:
        """The client's headers merged with `extra`, decoded once per distinct pair.

        The call's `X-Request-ID`, when there is one, replaces any the provider set (as the
        hook does), and so do the `traceparent` and `tracestate` naming the attempt's `span`
        (tracing on): they are left out of the cached merge and appended per call.
        """
        key = (
            tuple(self.headers.raw),
            tuple(extra.items()) if extra else (),
            request_id is None,
            span is None,
        )
        merged = self._merged_headers.get(key)
        if merged is None:
            merged = _merged_headers(self.headers, extra)
            ours = TRACE_HEADERS if span is not None else frozenset()
            if request_id is not None:
                ours = ours | {"x-request-id"}
            if ours:
                merged = [item for item in merged if item[0].lower() not in ours]
            if len(self._merged_headers) >= _HEADER_SETS:
                self._merged_headers.clear()
            self._merged_headers[key] = merged
        if request_id is None and span is None:
            return merged
        sent = [*merged, (_REQUEST_ID, request_id)] if request_id is not None else [*merged]
        if span is not None:
            sent.append((TRACEPARENT, span.traceparent()))
            if span.trace_state:
                sent.append((TRACESTATE, span.trace_state.to_header()))
        return sent

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

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        await super().aclose()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise AttributeError("the shared client keeps no cookies; pass them per request")
