"""`AiohttpTransport`: an `httpx.AsyncBaseTransport` over one `aiohttp.ClientSession`.

Providers keep the httpx API (`httpx.AsyncClient`, `httpx.Response`, httpx exceptions);
the connection pool and HTTP/1.1 parsing run in aiohttp's C speedups. Compared with
`httpx_aiohttp.AiohttpTransport` (0.2.0) this one:

* maps every aiohttp failure to the httpx exception a caller expects. httpx-aiohttp turns
  any `aiohttp.ClientConnectionError` (so also a server reset mid-body) into
  `httpx.ConnectTimeout`, and lets unmapped aiohttp errors escape raw;
* hands aiohttp an already-encoded `yarl.URL`, so the URL httpx built is neither re-parsed
  nor re-quoted (the query the server sees is exactly httpx's);
* keeps one session with a DNS cache, no cookie jar (the shared client must not carry one
  upstream's cookies to another caller), and caches the per-request `ClientTimeout`;
* streams the body (`httpx.AsyncByteStream`), so a caller can stop reading a huge body and
  closing the response drops the connection instead of draining it. A body that declares a
  `Content-Length` of at most `eager_body_max_bytes` (64 KiB) is read here at once instead:
  one aiohttp read instead of a chain of async iterators, about 10% of the client's CPU per
  call for the small JSON bodies providers get. Such a body fails (reset, short, timeout)
  before the response hooks run, so a call that breaks mid-body reports no status code.
  Only a 2xx answer of a JSON type (or none) is read so: any other is refused by
  `fetch_json` at its head, and waiting for a body that drips would turn it into a timeout;
* refuses a `101 Switching Protocols` nobody asked for (`RemoteProtocolError`).
"""

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import aiohttp
import httpx
from yarl import URL

_CHUNK_SIZE = 64 * 1024
EAGER_BODY_MAX_BYTES = 64 * 1024
# Set on responses whose body was read here: the raw Content-Type header value, or None.
CONTENT_TYPE_EXTENSION = "fanout.content_type"


def _message(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _raise_mapped(exc: BaseException, request: httpx.Request) -> NoReturn:
    """Re-raise an aiohttp/asyncio/OS error as the matching `httpx.TransportError`."""
    mapped: type[httpx.TransportError]
    # Order matters: aiohttp's timeouts are also `ClientConnectionError`s.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout  # sock_connect, or waiting for a pooled connection
    elif isinstance(exc, TimeoutError):  # SocketTimeoutError, ServerTimeoutError, asyncio
        mapped = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        mapped = httpx.ProxyError
    elif isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerFingerprintMismatch):
        mapped = httpx.ConnectError  # refused, DNS, TLS handshake
    elif isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        # Closed before the whole answer, a short/garbled body, or an unparsable head.
        mapped = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        mapped = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientConnectionError | OSError):
        mapped = httpx.ReadError  # reset by peer, broken pipe, ...
    else:
        mapped = httpx.TransportError  # any other aiohttp.ClientError
    raise mapped(_message(exc), request=request) from exc


@contextmanager
def _mapped_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        _raise_mapped(exc, request)


class _ResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors(self._request):
            async for chunk in self._response.content.iter_chunked(_CHUNK_SIZE):
                yield chunk

    async def aclose(self) -> None:
        response = self._response
        if response.content.is_eof():
            response.release()  # back to the pool
        else:
            response.close()  # unread body: drop the connection rather than drain it


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One `aiohttp.ClientSession`, created on first use (it needs the running loop)."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        dns_cache_ttl_s: int = 300,
        ssl_context: ssl.SSLContext | None = None,
        eager_body_max_bytes: int = EAGER_BODY_MAX_BYTES,
    ) -> None:
        self._eager_max = eager_body_max_bytes
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._dns_cache_ttl_s = dns_cache_ttl_s
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            ttl_dns_cache=self._dns_cache_ttl_s,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            trust_env=False,
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        spec: dict[str, float | None] = request.extensions.get("timeout", {})
        key = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            # aiohttp's `connect` covers waiting for a pooled connection plus connecting.
            total_connect = None if pool is None or connect is None else pool + connect
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=total_connect,
                sock_connect=connect,
                sock_read=read,
                ceil_threshold=3600,  # never round sub-hour timeouts up to whole seconds
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open_session()
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = _iter_request(request.stream)
            # aiohttp chunks an async generator itself.
            request.headers.pop("transfer-encoding", None)
        with _mapped_errors(request):
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=_headers(request.headers),
                data=data,
                allow_redirects=False,
                timeout=self._timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        status = response.status
        if status == 101 and "upgrade" not in request.headers:
            response.close()
            raise httpx.RemoteProtocolError(
                "upstream switched protocols (HTTP 101) unasked", request=request
            )
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/1.1",
            "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
        }
        length = response.content_length
        content_type = None
        eager = length is not None and length <= self._eager_max and 200 <= status < 300
        if eager:
            # Only the body `fetch_json` reads: any other answer it refuses at its head, and
            # waiting here for a body that drips would turn that into a timeout.
            content_type = response.headers.get("Content-Type")
            eager = content_type is None or "json" in content_type.lower()
        if eager:
            with _mapped_errors(request):
                body = await response.read()
            response.release()
            if "Content-Encoding" not in response.headers:
                # `content=` makes httpx keep the body as read (`is_stream_consumed`), so
                # `get_json` takes it as it is instead of through httpx's async iterators.
                # Encoded bodies stay a stream: decoding one is where the size cap counts.
                # aiohttp already found the Content-Type: `get_json` need not scan for it.
                extensions[CONTENT_TYPE_EXTENSION] = content_type
                return httpx.Response(
                    status_code=response.status,
                    headers=response.raw_headers,
                    content=body,
                    request=request,
                    extensions=extensions,
                )
            stream: httpx.AsyncByteStream = httpx.ByteStream(body)
        else:
            stream = _ResponseStream(response, request)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=stream,
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The request's headers with their original name case (`multi_items` lowercases)."""
    encoding = headers.encoding
    return [(name.decode(encoding), value.decode(encoding)) for name, value in headers.raw]


async def _iter_request(stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> Any:
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            yield chunk
    else:
        for chunk in stream:
            yield chunk


__all__ = ["AiohttpTransport"]
