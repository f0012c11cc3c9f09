"""One connection of `ConnectionPool` (`pool.py`): an asyncio protocol fed to httptools' parser.

It carries one request at a time. The pool writes the head and awaits `waiter`; the parser's
callbacks fill in the answer and resolve it (or fail it with an httpx exception).

The answer is judged at its head: a non-2xx status or a declared type that is not JSON is all
`fetch_json` needs to know, so such a body is not waited for (a 503 whose body drips must not
become a timeout). Whatever arrived with the head is parsed; if that ends the answer the
connection stays usable, else it is dropped. Trailers are not headers (RFC 9110 6.5.1), a
folded header line is unfolded (RFC 9112 5.2), and bytes past the answer, or a switch of
protocols nobody asked for, make the connection untrustworthy: it is dropped.
"""

import asyncio
import re
from collections.abc import Sequence
from typing import Protocol

import httptools
import httpx

MAX_HEAD_BYTES = 64 * 1024
_FOLD = re.compile(rb"\r?\n[ \t]+")
_SWITCHED = "upstream switched protocols (HTTP 101) unasked"
Origin = tuple[str, str, int]  # scheme, host, port


class Owner(Protocol):
    """What a connection needs of its pool."""

    loop: asyncio.AbstractEventLoop

    def forget(self, conn: "Connection") -> None: ...


class Connection(asyncio.Protocol):
    """One connection, one request at a time; the answer is parsed as it arrives."""

    def __init__(self, pool: "Owner", origin: Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.counted = False  # in the pool's count of open connections (set once connected)
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self.start(None, 0)

    def start(self, waiter: "asyncio.Future[None] | None", limit: int) -> None:
        self.waiter = waiter
        self.limit = limit
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.in_head = True
        self.head_bytes = 0
        self.head_chunks: list[bytes] = []  # reads of a head still incomplete after them
        self.chunks: list[bytes] = []
        self.size = 0
        self.declared: int | None = None
        self.until_close = False
        self.over = False  # the body is not kept: over the cap, or the answer was refused
        self.refused = False
        self.keep_alive = False
        self.got_bytes = False
        self.last_io = 0.0

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None:  # bytes nobody asked for: this connection cannot be trusted
            self.abort()
            return
        self.got_bytes = True
        self.last_io = self.pool.loop.time()
        try:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserCallbackError:
                raise  # one of ours refused what followed the answer
            except httptools.HttpParserError:
                if not (self.in_head and self._feed_unfolded(data)):
                    raise
        except httptools.HttpParserError as exc:
            self.fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))
            self.abort()
            return
        except httptools.HttpParserUpgrade:
            # Not an HttpParserError: escaping here, asyncio would log a traceback per call.
            self.fail(httpx.RemoteProtocolError(_SWITCHED))
            self.abort()
            return
        if self.in_head:  # still no end of head: httptools would buffer an endless one
            self.head_bytes += len(data)
            self.head_chunks.append(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.fail(httpx.RemoteProtocolError(f"answer head over {MAX_HEAD_BYTES} bytes"))
                self.abort()
        elif self.refused and not waiter.done():
            # Refused at its head and its body not all here: answer now, never read on.
            self.keep_alive = False
            self.finish()
            self.abort()

    def _feed_unfolded(self, data: bytes) -> bool:
        """Parse the answer again from its first byte, each folded header line joined to
        the one before it by a space; False when the head has no fold (it is malformed)."""
        received = b"".join([*self.head_chunks, data])
        fold = _FOLD.search(received)
        if fold is None:
            return False
        end = received.find(b"\r\n\r\n", fold.start())
        end = len(received) if end < 0 else end + 2
        self.parser = httptools.HttpResponseParser(self)
        self.reason, self.headers, self.head_chunks = b"", [], []
        self.parser.feed_data(_FOLD.sub(b" ", received[:end]) + received[end:])
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.waiter is None or self.waiter.done():
            return
        if exc is None and self.until_close and self.status:
            self.finish()  # a read-until-close body ends with the connection
        elif exc is None:
            self.fail(httpx.RemoteProtocolError(self._cut_short()))
        else:
            self.fail(httpx.ReadError(f"{type(exc).__name__}: {exc}"))

    def _cut_short(self) -> str:
        if not self.status:
            return "server disconnected before answering"
        if self.declared is not None:
            return f"server disconnected after {self.size} of {self.declared} body bytes"
        return f"server disconnected after {self.size} body bytes of a chunked answer"

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            # A second answer in the same read: the one asked for is already taken.
            self.keep_alive = False
            raise httpx.RemoteProtocolError("upstream sent an answer nobody asked for")

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_head:  # else a trailer, which is no header (RFC 9110 6.5.1)
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:  # llhttp then stops, with or without `Connection: upgrade`
                self.fail(httpx.RemoteProtocolError(_SWITCHED))
            return  # informational: the answer follows on this connection
        self.status = status
        chunked = False
        content_type = None
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == b"content-length" and value.isdigit():
                self.declared = int(value)
            elif len(name) == 17 and name.lower() == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif len(name) == 12 and content_type is None and name.lower() == b"content-type":
                content_type = value  # the first, as `HttpClient.fetch_json` reads it
        self.until_close = self.declared is None and not chunked and status not in (204, 304)
        if not 200 <= status < 300 or (
            content_type is not None and b"json" not in content_type.lower()
        ):
            self.refused = self.over = True  # `data_received` decides once this read is parsed
        elif self.declared is not None and self.declared > self.limit:
            self.over_cap()

    def on_body(self, body: bytes) -> None:
        if self.over:
            return
        self.size += len(body)
        if self.size > self.limit:
            self.over_cap()
        else:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.status:  # the end of a 1xx: the answer's head follows
            self.reason, self.headers, self.in_head = b"", [], True
            return
        self.keep_alive = self.parser.should_keep_alive()
        self.finish()

    # --- outcomes ----------------------------------------------------------------------------

    def over_cap(self) -> None:
        """Answer now with no body; the rest is never read (the connection is dropped)."""
        self.over, self.chunks, self.keep_alive = True, [], False
        self.finish()

    def finish(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def fail(self, error: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def check_read(self, waiter: "asyncio.Future[None]", timeout: float) -> None:
        """The read timer of the request `waiter` stands for: no byte for `timeout` seconds
        fails it, else look again. A timer left from an earlier request on this connection
        (re-armed, so never cancelled) finds another waiter and does nothing."""
        if self.waiter is not waiter or waiter.done():
            return
        quiet = self.pool.loop.time() - self.last_io
        if quiet < timeout:
            self.pool.loop.call_later(timeout - quiet, self.check_read, waiter, timeout)
            return
        self.fail(httpx.ReadTimeout(f"no data from the upstream for {timeout:g} s"))
        self.abort()

    def abort(self) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.transport is not None:
            self.transport.abort()


def request_head(
    request_line: bytes, host_line: bytes, headers: Sequence[tuple[str, str]]
) -> bytes:
    """The request head; a header that would break its line is refused, never sent.

    A `Host` among `headers` (a provider behind a virtual host) replaces the URL's.
    """
    text = "".join([f"{name}: {value}\r\n" for name, value in headers])
    if text.count("\n") != len(headers) or text.count("\r") != len(headers):
        raise httpx.LocalProtocolError("a request header holds a line break")
    if "\nhost:" in f"\n{text}".lower():
        host_line = b""
    try:
        return request_line + host_line + text.encode("latin-1") + b"\r\n"
    except UnicodeEncodeError:
        # Not the codec's message: it quotes the character, and header values may be secrets.
        raise httpx.LocalProtocolError("a request header is not latin-1") from None
