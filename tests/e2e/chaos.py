"""A chaos upstream: a raw asyncio HTTP/1.1 server whose answer per path is a chosen fault.

It runs on its own event loop in its own thread, so its connection tasks never count among
the tasks of the loop under test. `GET /<provider>/...` answers a small JSON object unless
`faults[<provider>]` names one of `FAULTS`.
"""

import asyncio
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

GOOD_BODY = b'{"value": 1}'

Fault = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _json_head(length: int | None, content_type: str = "application/json") -> bytes:
    headers = {"Content-Type": content_type}
    if length is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(length)
    return _head("200 OK", headers)


async def good(writer: asyncio.StreamWriter) -> None:
    writer.write(_json_head(len(GOOD_BODY)) + GOOD_BODY)
    await writer.drain()


async def reset_mid_body(writer: asyncio.StreamWriter) -> None:
    writer.write(_json_head(1000) + b'{"value": ' + b" " * 100)
    await writer.drain()
    # SO_LINGER 0: the close sends RST, a real reset rather than an orderly FIN.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def never_answer(writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


async def drip(writer: asyncio.StreamWriter) -> None:
    writer.write(_json_head(100) + b"{")
    await writer.drain()
    while True:
        await asyncio.sleep(2)
        writer.write(b" ")
        await writer.drain()


async def huge_body(writer: asyncio.StreamWriter) -> None:
    size = 50 * 1024 * 1024
    writer.write(_json_head(size) + b'{"value": "')
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        writer.write(chunk)
        await writer.drain()


async def endless_chunked(writer: asyncio.StreamWriter) -> None:
    writer.write(_json_head(None))
    piece = b"x" * 16384
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    writer.write(b'c\r\n{"value": "x\r\n')
    while True:
        writer.write(frame)
        await writer.drain()


async def longer_content_length(writer: asyncio.StreamWriter) -> None:
    """Declares more than it sends, then closes."""
    writer.write(_json_head(len(GOOD_BODY) + 50) + GOOD_BODY)
    await writer.drain()
    writer.close()


async def shorter_content_length(writer: asyncio.StreamWriter) -> None:
    """Declares fewer bytes than the JSON it sends: the object is cut short."""
    writer.write(_json_head(len(GOOD_BODY) - 3) + GOOD_BODY)
    await writer.drain()


async def malformed_json(writer: asyncio.StreamWriter) -> None:
    body = b'{"value": 1,,}'
    writer.write(_json_head(len(body)) + body)
    await writer.drain()


async def invalid_utf8(writer: asyncio.StreamWriter) -> None:
    body = b'{"value": "\xff\xfe\xfd"}'
    writer.write(_json_head(len(body)) + body)
    await writer.drain()


async def wrong_content_type(writer: asyncio.StreamWriter) -> None:
    body = b"<html><body>maintenance</body></html>"
    writer.write(_json_head(len(body), "text/html; charset=utf-8") + body)
    await writer.drain()


async def too_many_requests(writer: asyncio.StreamWriter) -> None:
    writer.write(_head("429 Too Many Requests", {"Retry-After": "120", "Content-Length": "0"}))
    await writer.drain()


async def unavailable(writer: asyncio.StreamWriter) -> None:
    writer.write(_head("503 Service Unavailable", {"Content-Length": "0"}))
    await writer.drain()


FAULTS: dict[str, Fault] = {
    "reset_mid_body": reset_mid_body,
    "never_answer": never_answer,
    "drip": drip,
    "huge_body": huge_body,
    "endless_chunked": endless_chunked,
    "longer_content_length": longer_content_length,
    "shorter_content_length": shorter_content_length,
    "malformed_json": malformed_json,
    "invalid_utf8": invalid_utf8,
    "wrong_content_type": wrong_content_type,
    "too_many_requests": too_many_requests,
    "unavailable": unavailable,
}


class ChaosUpstream:
    def __init__(self, faults: dict[str, str] | None = None) -> None:
        self.faults = dict(faults or {})
        self.requests: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.url = ""

    def _submit(self, coro: Awaitable[Any]) -> "Future[Any]":
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    def start(self) -> "ChaosUpstream":
        self._thread.start()
        self._server = self._submit(asyncio.start_server(self._handle, "127.0.0.1", 0)).result(5)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def close(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            current = asyncio.current_task()
            # Connections accepted just before the close start their handlers a little later.
            for _ in range(100):
                await asyncio.sleep(0)
                tasks = [t for t in asyncio.all_tasks() if t is not current]
                if not tasks:
                    break
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        self._submit(shutdown()).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                provider = path.strip("/").split("/", 1)[0]
                self.requests[provider] = self.requests.get(provider, 0) + 1
                fault = FAULTS.get(self.faults.get(provider, ""), good)
                await fault(writer)
                if fault is not good:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.transport.abort()
