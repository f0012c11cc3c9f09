"""`ScriptedUpstream`: a real HTTP/1.1 server on 127.0.0.1 whose answers a test scripts.

Each request is answered by `script(number, request)` (number counts from 1): a status, headers,
a body, a delay before the head, and optionally a stall in the middle of the body (the head and
half the body sent, the rest never). It records every request with the connection it came on,
and which connections the client closed while an answer was still unfinished.
"""

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson


@dataclass
class Seen:
    number: int
    method: str
    target: str
    connection: int
    body: bytes


@dataclass
class Answer:
    json: object = field(default_factory=lambda: {"value": 1})
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    stall_mid_body: bool = False


Script = Callable[[int, Seen], Answer]


class ScriptedUpstream:
    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script or (lambda number, seen: Answer())
        self.seen: list[Seen] = []
        self.dropped_mid_answer: set[int] = set()  # connections the client closed early
        self.in_flight = 0
        self.url = ""
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stalled = asyncio.Event()  # never set: a stalled answer waits forever

    @property
    def calls(self) -> int:
        return len(self.seen)

    async def __aenter__(self) -> "ScriptedUpstream":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = next(self._ids)
        answering = False
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                length = 0
                for line in lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                seen = Seen(len(self.seen) + 1, method, target, connection, body)
                self.seen.append(seen)
                answer = self.script(seen.number, seen)
                answering = True
                self.in_flight += 1
                try:
                    await self._answer(answer, reader, writer)
                finally:
                    self.in_flight -= 1
                answering = False
        except (ConnectionError, asyncio.IncompleteReadError):
            if answering:
                self.dropped_mid_answer.add(connection)
        except asyncio.CancelledError:
            return
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(
        self, answer: Answer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if answer.delay_s:
            # Wait, but notice a client that closes the connection meanwhile.
            closed = asyncio.ensure_future(reader.read(1))
            done, _ = await asyncio.wait({closed}, timeout=answer.delay_s)
            if done:
                raise ConnectionResetError("client closed the connection while waiting")
            closed.cancel()
            await asyncio.gather(closed, return_exceptions=True)
        body = orjson.dumps(answer.json)
        headers = {"Content-Type": "application/json", **answer.headers}
        head = f"HTTP/1.1 {answer.status} X\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        if not answer.stall_mid_body:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            return
        writer.write(head.encode("latin-1") + body[: len(body) // 2])
        await writer.drain()
        if await reader.read(1) == b"":  # the client closed it: the answer stays unfinished
            raise ConnectionResetError("client closed the connection mid-body")
        await self._stalled.wait()
