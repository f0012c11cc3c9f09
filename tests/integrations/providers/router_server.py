"""`RouterServer`: a real HTTP/1.1 server on 127.0.0.1 that answers with a respx router.

The provider contract's live mode sends each provider's request through the production client
(`create_http_client`, whose `fetch_json` runs on our own `ConnectionPool`) to this server.
Every request read off the socket becomes an `httpx.Request` handed to the same
`respx.MockRouter` the mock mode uses, so `router.route().respond(...)` and
`route.calls.last.request` read the same in both modes; in this one the request the router
sees is what crossed the wire, and the answer crosses it back byte for byte.
"""

import asyncio

import httpx
import respx

# Hop-by-hop framing is the server's: the body is sent whole, with its own Content-Length.
_FRAMING = {b"content-length", b"transfer-encoding", b"connection", b"keep-alive"}


class RouterServer:
    """Serve `router` on a free port of 127.0.0.1 inside `async with`; `url` is its base URL.

    Keep-alive HTTP/1.1, requests with a Content-Length body or none. Anything the router
    raises (a route with no answer, an exception as side effect) is the test's mistake: the
    connection is dropped unanswered and the first such error is raised again on exit.
    """

    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.url = ""
        self.errors: list[Exception] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "RouterServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        if self.errors:
            raise self.errors[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection between requests
                try:
                    request = await self._read_request(head, reader)
                    answer = await _encode(await self.router.async_handler(request))
                except Exception as exc:  # the test's mistake, not the client's
                    self.errors.append(exc)
                    return
                writer.write(answer)
                await writer.drain()
                if request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return  # the client went away, or the server is stopping
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_request(self, head: bytes, reader: asyncio.StreamReader) -> httpx.Request:
        request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        if not target.startswith("/"):
            raise ValueError(f"expected an origin-form request target, got {target!r}")
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"malformed header line {line!r}")
            headers.append((name.strip(), value.strip()))
        fields = {name.lower(): value for name, value in headers}
        if "transfer-encoding" in fields:
            raise ValueError("chunked request bodies are not supported")
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        # No body: no `content`, or httpx would add a Content-Length the client never sent.
        return httpx.Request(method, self.url + target, headers=headers, content=body or None)


async def _encode(response: httpx.Response) -> bytes:
    """The status line, the router's headers and its raw (still encoded) body."""
    stream = response.stream
    if isinstance(stream, httpx.AsyncByteStream):
        body = b"".join([chunk async for chunk in stream])
    else:
        body = b"".join(stream)
    reason = response.reason_phrase.encode("latin-1")
    lines = [b"HTTP/1.1 %d %s" % (response.status_code, reason)]
    lines += [
        name + b": " + value for name, value in response.headers.raw if name.lower() not in _FRAMING
    ]
    lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
