"""The export side: the bounded queue, the thread, and the OTLP/HTTP sender against real local
receivers that answer, refuse, stall, or are not there at all."""

import gzip
import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from app.core.spans import LightSpan
from app.observability import otlp_http
from app.observability.metrics import Metrics
from app.observability.otlp import Encoder
from app.observability.otlp_http import ExportConfig, OtlpHttpSender, TracingConfigError
from app.observability.span_pipeline import BatchSettings, SpanPipeline
from app.observability.tracing import check_tracing, start_tracing, stop_tracing
from tests.support.polling import wait_until


class Receiver(ThreadingHTTPServer):
    """OTLP/HTTP on loopback, kept alive; `answers` says the status of each POST in turn
    (then 200); `hold` makes it wait before answering."""

    daemon_threads = True

    def __init__(self, answers: list[int] | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.answers = list(answers or [])
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.hold = threading.Event()
        self.hold.set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[str]:
        """The names of the spans of every POST that was answered 200."""
        names: list[str] = []
        for _, headers, body in self.posts:
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    names.extend(span.name for span in scope_spans.spans)
        return names


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.hold.wait(10)
        status = self.server.answers.pop(0) if self.server.answers else 200
        if status == 200:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.server.posts.append((self.path, headers, body))
        else:
            self.server.posts.append((self.path, {"refused": str(status)}, b""))
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serving(Receiver())


def _serving(server: Receiver) -> Generator[Receiver, None, None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.hold.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_http, "BACKOFF_S", 0.01)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pipeline(
    endpoint: str, settings: BatchSettings | None = None, **config: object
) -> SpanPipeline:
    sender = OtlpHttpSender(ExportConfig(endpoint=f"{endpoint}/v1/traces", **config))  # type: ignore[arg-type]
    encoder = Encoder({"service.name": "t"}, "app")

    def export(spans: list[LightSpan], deadline: float, retry: bool) -> str | None:
        return sender.send(encoder.encode(spans), deadline, retry)

    return SpanPipeline(ALWAYS_ON, export, sender.where, settings or BatchSettings())


def _spans(pipeline: SpanPipeline, count: int, prefix: str = "s") -> None:
    for n in range(count):
        pipeline.tracer.start_span(f"{prefix}{n}").end()


def test_queued_spans_reach_the_receiver_in_batches(receiver: Receiver) -> None:
    pipeline = _pipeline(receiver.endpoint, BatchSettings(batch_size=4, delay_s=60))
    try:
        _spans(pipeline, 4)  # a full batch wakes the thread: no flush, no schedule delay
        wait_until(lambda: len(receiver.spans()) == 4, timeout_s=5, what="the first batch")
        _spans(pipeline, 6, prefix="t")
        assert pipeline.force_flush(5000)
    finally:
        pipeline.shutdown()
    assert receiver.spans() == [f"s{n}" for n in range(4)] + [f"t{n}" for n in range(6)]
    assert [len(body) > 0 for _, _, body in receiver.posts] == [True] * 3  # 4, 4, then 2
    path, headers, _ = receiver.posts[0]
    assert path == "/v1/traces" and headers["content-type"] == "application/x-protobuf"
    assert pipeline.exported == 10 and pipeline.dropped_full == pipeline.dropped_failed == 0


def test_headers_and_gzip_come_from_the_environment(receiver: Receiver) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint + "/",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=secret%20one,x-tenant=acme",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
    }
    config = ExportConfig.from_environ(environ)
    assert config.endpoint == receiver.endpoint + "/v1/traces" and config.gzip
    pipeline = _pipeline(receiver.endpoint, headers=config.headers, gzip=config.gzip)
    try:
        _spans(pipeline, 3)
        assert pipeline.force_flush(5000)
    finally:
        pipeline.shutdown()
    _, headers, body = receiver.posts[0]
    assert headers["content-encoding"] == "gzip" and body[:2] == b"\x1f\x8b"
    assert (headers["api-key"], headers["x-tenant"]) == ("secret one", "acme")
    assert receiver.spans() == ["s0", "s1", "s2"]


def test_the_export_settings_the_specification_names() -> None:
    assert ExportConfig.from_environ({}).endpoint == "http://localhost:4318/v1/traces"
    traces = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c:4318/custom",  # used as is
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",  # milliseconds
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",  # the traces one wins
    }
    config = ExportConfig.from_environ(traces)
    assert (config.endpoint, config.timeout_s, dict(config.headers)) == (
        "https://c:4318/custom",
        2.5,
        {"b": "2"},
    )
    for bad in (
        {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
        {"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
        {"OTEL_BSP_MAX_QUEUE_SIZE": "0"},
        {"OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
    ):
        with pytest.raises(TracingConfigError):
            check_tracing({"OTEL_TRACES_EXPORTER": "otlp", **bad})
    assert BatchSettings.from_environ({}) == BatchSettings(2048, 512, 5.0, 30.0)
    settings = BatchSettings.from_environ(
        {
            "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_BSP_MAX_QUEUE_SIZE": "64",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "32",
            "OTEL_BSP_EXPORT_TIMEOUT": "1500",
        }
    )
    assert settings == BatchSettings(
        max_queue=64, batch_size=32, delay_s=0.25, export_timeout_s=1.5
    )


def test_a_full_queue_drops_and_counts_without_blocking(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hold.clear()  # the receiver takes the first batch and does not answer yet
    pipeline = _pipeline(receiver.endpoint, BatchSettings(max_queue=3, batch_size=1, delay_s=60))
    try:
        _spans(pipeline, 1)
        wait_until(lambda: len(pipeline._spans) == 0, timeout_s=5, what="the first batch taken")
        started = time.monotonic()
        _spans(pipeline, 5, prefix="q")  # three fit in the queue, two are dropped
        assert time.monotonic() - started < 0.5
        assert pipeline.dropped_full == 2
        receiver.hold.set()
        assert pipeline.force_flush(5000)
    finally:
        pipeline.shutdown()
    assert receiver.spans() == ["s0", "q0", "q1", "q2"]
    assert pipeline.exported == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "queue full" in w] == [
        "span queue full (OTEL_BSP_MAX_QUEUE_SIZE=3): spans are dropped"
    ]


def test_a_receiver_that_is_down_costs_bounded_time_and_one_warning_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = _free_port()  # nothing listens there yet
    endpoint = f"http://127.0.0.1:{port}"
    pipeline = _pipeline(endpoint, BatchSettings(batch_size=2, delay_s=60))
    try:
        for _ in range(3):
            started = time.monotonic()
            _spans(pipeline, 2)
            assert pipeline.force_flush(5000)
            assert time.monotonic() - started < 2
        assert (pipeline.exported, pipeline.dropped_failed) == (0, 6)
        up = Receiver(port=port)  # the receiver is back
        serving = _serving(up)
        next(serving)
        try:
            _spans(pipeline, 2, prefix="back")
            assert pipeline.force_flush(5000)
        finally:
            serving.close()
    finally:
        pipeline.shutdown()
    assert pipeline.exported == 2 and up.spans() == ["back0", "back1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"span export to {endpoint}/v1/traces failing (ConnectionRefusedError): "
        "spans are dropped until it answers",
        f"span export to {endpoint}/v1/traces recovered; 6 spans were dropped while it failed",
    ]


def test_busy_answers_are_retried_and_a_refusal_is_not(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers = [503, 429, 200, 400]
    pipeline = _pipeline(receiver.endpoint, BatchSettings(batch_size=1, delay_s=60))
    try:
        _spans(pipeline, 1)  # 503, 429, then taken
        assert pipeline.force_flush(5000)
        _spans(pipeline, 1, prefix="bad")  # 400: sending it again would not help
        assert pipeline.force_flush(5000)
    finally:
        pipeline.shutdown()
    assert [headers.get("refused") for _, headers, _ in receiver.posts] == [
        "503",
        "429",
        None,
        "400",
    ]
    assert (pipeline.exported, pipeline.dropped_failed) == (1, 1)
    assert any("failing (HTTP 400)" in r.getMessage() for r in caplog.records)


def test_a_receiver_that_never_answers_is_given_up_on_within_the_timeout(
    receiver: Receiver,
) -> None:
    receiver.hold.clear()
    pipeline = _pipeline(receiver.endpoint, BatchSettings(delay_s=60), timeout_s=0.2)
    started = time.monotonic()
    try:
        _spans(pipeline, 3)
        assert pipeline.force_flush(10_000)
    finally:
        pipeline.shutdown(timeout_s=1)
    # Each try waits 0.2 s at most, and there are four.
    assert time.monotonic() - started < 3
    assert pipeline.dropped_failed == 3


def test_shutdown_exports_what_is_queued_and_is_bounded_when_the_receiver_is_away(
    receiver: Receiver,
) -> None:
    pipeline = _pipeline(receiver.endpoint, BatchSettings(delay_s=60))
    _spans(pipeline, 5)
    pipeline.shutdown()
    assert receiver.spans() == [f"s{n}" for n in range(5)]
    _spans(pipeline, 1)  # after shutdown: no thread is there to send it, nor is it kept
    assert pipeline.force_flush(100) is False and len(pipeline._spans) == 0

    away = _pipeline(f"http://127.0.0.1:{_free_port()}", BatchSettings(batch_size=2, delay_s=60))
    _spans(away, 1)
    started = time.monotonic()
    away.shutdown(timeout_s=2)
    assert time.monotonic() - started < 2.5 and away.dropped_failed == 1


def test_console_exporter_prints_each_span(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    pipeline = start_tracing({"OTEL_TRACES_EXPORTER": "console"})
    assert pipeline is not None
    try:
        with pipeline.tracer.start_as_current_span("printed", attributes={"fanout.n": 3}):
            pass
        assert pipeline.force_flush(5000)
    finally:
        stop_tracing(pipeline)
    printed = json.loads(out.getvalue())
    assert (printed["name"], printed["attributes"]) == ("printed", {"fanout.n": 3})
    assert printed["resource"]["attributes"]["service.name"] == "api-fanout"


def test_exported_and_dropped_spans_are_metrics(receiver: Receiver) -> None:
    metrics = Metrics()
    receiver.answers = [400]  # the first batch is refused (not retried): dropped
    pipeline = _pipeline(receiver.endpoint, BatchSettings(batch_size=2, delay_s=60))
    metrics.bind(SimpleNamespace, [], spans=pipeline)  # no writer statistics
    try:
        _spans(pipeline, 2)
        assert pipeline.force_flush(5000)
        _spans(pipeline, 3)
        assert pipeline.force_flush(5000)
    finally:
        pipeline.shutdown()
    text = metrics.exposition().decode()
    assert "fanout_trace_spans_exported_total 3.0" in text
    assert 'fanout_trace_spans_dropped_total{reason="export_failed"} 2.0' in text
    assert 'fanout_trace_spans_dropped_total{reason="queue_full"} 0.0' in text
