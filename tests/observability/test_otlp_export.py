"""Tracing set up from the `OTEL_*` variables, exporting to a real local OTLP/HTTP receiver."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from app.core import tracing
from app.integrations.registry import ProviderRegistry
from app.main import create_app
from app.observability.tracing import TracingConfigError, exporter_name
from tests.conftest import make_settings
from tests.observability.test_tracing import ViaHttpx
from tests.security.helpers import LOOPBACK, serve
from tests.support.processes import child_env
from tests.support.providers import demo_registry
from tests.support.servers import Answer, ScriptedServer


class Receiver(ThreadingHTTPServer):
    """OTLP/HTTP with protobuf, as a collector listens on :4318: POST /v1/traces."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[tuple[str, Any]]:
        """(service.name, the span) of every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append((resource.get("service.name", ""), span))
        return found


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        self.server.content_types.append(self.headers["content-type"])
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_reach_a_real_otlp_http_receiver(
    sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "fanout-under-test")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    async with ScriptedServer(lambda seen: Answer(200, b'{"ok": 1}')) as upstream:
        upstream_url = upstream.url
        settings = make_settings(sqlite_url, demo_upstream_url=upstream_url)
        app = create_app(settings, registry=ProviderRegistry([ViaHttpx]))
        async with serve(app, LOOPBACK) as http:
            assert tracing.tracer is not None
            response = await http.get("/integrations/fetch", params={"city": "Busan"})
            assert response.status_code == 200
    # The lifespan's end flushed the batch and turned tracing off again.
    assert tracing.tracer is None
    assert receiver.content_types and set(receiver.content_types) == {"application/x-protobuf"}
    spans = receiver.spans()
    assert {service for service, _ in spans} == {"fanout-under-test"}
    by_name = {span.name: span for _, span in spans}
    assert {"GET /integrations/fetch", "fan-out", "provider via_httpx", "GET"} <= set(by_name)
    trace_id = response.json()["trace_id"]
    for name in ("GET /integrations/fetch", "fan-out", "provider via_httpx", "GET"):
        assert by_name[name].trace_id.hex() == trace_id, name
    attempt = {a.key: a.value for a in by_name["GET"].attributes}
    assert attempt["http.response.status_code"].int_value == 200
    assert attempt["url.full"].string_value == f"{upstream_url}/httpx?city=[REDACTED]"


async def test_no_exporter_configured_leaves_tracing_off(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    settings = make_settings(sqlite_url, demo_upstream_url="http://127.0.0.1:9")
    app = create_app(settings, registry=demo_registry())
    async with serve(app, LOOPBACK):
        assert tracing.tracer is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": " Console "}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
    ],
)
def test_which_exporter_the_environment_asks_for(
    environ: dict[str, str], expected: str | None
) -> None:
    assert exporter_name(environ) == expected


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
    ],
)
def test_an_exporter_we_do_not_ship_stops_start_up_saying_what_to_set(
    environ: dict[str, str], names: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TracingConfigError, match=names):
        exporter_name(environ)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(TracingConfigError, match=names):
        create_app(make_settings(sqlite_url), registry=demo_registry())


def test_tracing_off_imports_none_of_the_sdks_tracing() -> None:
    code = (
        "import sys, app.main\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk.trace')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
