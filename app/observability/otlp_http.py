"""Sending encoded span batches to an OTLP/HTTP receiver (a collector's :4318/v1/traces).

Our own, on a plain socket (httptools reads the answer), because the SDK's exporter runs on
`requests` and takes SDK spans; what it reads from the environment is the same (the
specification's variables, the `TRACES_` one first):

* `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` +
  `/v1/traces` (default `http://localhost:4318`);
* `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` (`key=value,...`, URL-encoded, as the SDK parses);
* `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT` in milliseconds, as the specification says (default
  10000; the Python SDK reads seconds here);
* `OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION`: `gzip` or `none` (default);
* `OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE`, `_CLIENT_KEY`, `_CLIENT_CERTIFICATE` for https.

A receiver that is down or slow must never reach a request: this runs on the export thread
only, each POST is bounded by the timeout, and a batch is retried a few times (429, 502,
503, 504 and connection errors) within its deadline, then given up (`send` says why).
"""

import gzip
import random
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools
from opentelemetry.util.re import parse_env_headers

RETRYABLE = frozenset({429, 502, 503, 504})
RETRIES = 3
BACKOFF_S = 0.2  # doubled at each retry, with up to 20% jitter
_GZIP_LEVEL = 1  # our CPU is what is scarce; a collector takes any level
_USER_AGENT = "api-fanout-otlp"


class TracingConfigError(ValueError):
    """An `OTEL_*` variable asks for something this service does not ship, or is malformed."""


@dataclass(frozen=True)
class ExportConfig:
    endpoint: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    gzip: bool = False
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "ExportConfig":
        def pick(name: str) -> str | None:
            traces = environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}", "").strip()
            return traces or environ.get(f"OTEL_EXPORTER_OTLP_{name}", "").strip() or None

        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if not endpoint:
            base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
            endpoint = (base or "http://localhost:4318").rstrip("/") + "/v1/traces"
        timeout = pick("TIMEOUT") or "10000"
        try:
            timeout_s = float(timeout) / 1000
        except ValueError:
            timeout_s = 0
        if not timeout_s > 0:
            raise TracingConfigError(
                "OTEL_EXPORTER_OTLP_TIMEOUT: a positive number of milliseconds (default 10000)"
            )
        compression = (pick("COMPRESSION") or "none").lower()
        if compression not in ("gzip", "none"):
            raise TracingConfigError("OTEL_EXPORTER_OTLP_COMPRESSION must be gzip or none")
        return cls(
            endpoint=endpoint,
            headers=dict(parse_env_headers(pick("HEADERS") or "", liberal=True)),
            timeout_s=timeout_s,
            gzip=compression == "gzip",
            certificate=pick("CERTIFICATE"),
            client_key=pick("CLIENT_KEY"),
            client_certificate=pick("CLIENT_CERTIFICATE"),
        )


class OtlpHttpSender:
    """POSTs `ExportTraceServiceRequest`s to one endpoint, on one kept-alive connection."""

    def __init__(self, config: ExportConfig) -> None:
        url = urlsplit(config.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise TracingConfigError(
                "OTEL_EXPORTER_OTLP_ENDPOINT: an http:// or https:// address, "
                "such as http://localhost:4318"
            )
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        # What logs show: never the headers (API keys) or a userinfo.
        self.where = f"{url.scheme}://{url.hostname}:{self._port}{url.path}"
        self._tls: ssl.SSLContext | None = None
        if url.scheme == "https":
            self._tls = ssl.create_default_context(cafile=config.certificate)
            if config.client_certificate:
                self._tls.load_cert_chain(config.client_certificate, config.client_key)
        self._timeout_s = config.timeout_s
        self._gzip = config.gzip
        # The request's head, made once: one send per batch, head and body together.
        lines = [
            f"POST {self._path} HTTP/1.1",
            f"Host: {url.netloc.rpartition('@')[2]}",
            "Content-Type: application/x-protobuf",
            f"User-Agent: {_USER_AGENT}",
            *(f"{name}: {value}" for name, value in config.headers.items()),
        ]
        if config.gzip:
            lines.append("Content-Encoding: gzip")
        if any("\r" in line or "\n" in line for line in lines):
            raise TracingConfigError("OTEL_EXPORTER_OTLP_HEADERS: a header holds a line break")
        try:
            head = "\r\n".join(lines).encode("latin-1")
            self._head = head + b"\r\nContent-Length: %d\r\n\r\n"
        except UnicodeEncodeError:
            raise TracingConfigError("OTEL_EXPORTER_OTLP_HEADERS: not latin-1") from None
        self._socket: socket.socket | None = None

    def send(self, body: bytes, deadline: float, retry: bool = True) -> str | None:
        """POST one batch before `deadline` (on `time.monotonic()`); None when the receiver
        took it, else why not. Without `retry`, one try (the receiver is known to fail)."""
        payload = gzip.compress(body, _GZIP_LEVEL, mtime=0) if self._gzip else body
        tries = 1 + RETRIES if retry else 1
        problem = "no time left"
        for number in range(tries):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            status, problem = self._post(payload, min(self._timeout_s, remaining))
            if status is not None and 200 <= status < 300:
                return None
            if status is not None and status not in RETRYABLE:
                break  # the receiver refused this batch (400, 413...): sending it again won't do
            if number + 1 < tries:
                pause = BACKOFF_S * 2**number * (1 + random.random() / 5)
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        return problem

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _post(self, payload: bytes, timeout_s: float) -> tuple[int | None, str]:
        """(status, what went wrong) of one POST; (None, the error) when none came back.

        On a socket of our own rather than `http.client`: each call into the kernel lets the
        event loop's thread take the interpreter, and getting it back can take a switch
        interval (5 ms); a batch here makes two (send, receive), not a dozen.
        """
        reused = self._socket is not None
        until = time.monotonic() + timeout_s
        try:
            sock = self._socket
            if sock is None:
                sock = socket.create_connection((self._host, self._port), timeout=timeout_s)
                if self._tls is not None:
                    sock = self._tls.wrap_socket(sock, server_hostname=self._host)
                self._socket = sock
            sock.settimeout(timeout_s)
            sock.sendall(self._head % len(payload) + payload)
            status, keep_alive = _answer(sock, until)
        except (OSError, httptools.HttpParserError) as exc:
            self.close()
            if reused and isinstance(exc, ConnectionError):
                # The receiver closed a kept-alive connection while it was idle: not a failure.
                return self._post(payload, timeout_s)
            return None, type(exc).__name__
        if not keep_alive:
            self.close()
        return status, f"HTTP {status}"


class _Answer:
    """What the parser has seen of the answer."""

    def __init__(self) -> None:
        self.head = False
        self.whole = False

    def on_headers_complete(self) -> None:
        self.head = True

    def on_message_complete(self) -> None:
        self.whole = True


def _answer(sock: socket.socket, until: float) -> tuple[int, bool]:
    """The status of the answer on `sock`, read whole (by `until`), and whether the
    connection can carry another request."""
    answer = _Answer()
    parser = httptools.HttpResponseParser(answer)
    while not answer.whole:
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no whole answer in time")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            if answer.head:  # a body that ran to the connection's end
                return parser.get_status_code(), False
            raise ConnectionResetError("closed before answering")
        parser.feed_data(data)
    return parser.get_status_code(), parser.should_keep_alive()
