"""A local OTLP/HTTP receiver for the benchmarks: takes `POST /v1/traces`, counts spans.

    python -m bench.otlp_sink --port 0   # prints "listening on http://127.0.0.1:<port>"

It decodes each export (so the exporter's work is what a collector would make it do) and
answers `GET /count` with the number of spans received so far.
"""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_EMPTY = ExportTraceServiceResponse().SerializeToString()


class Sink(ThreadingHTTPServer):
    spans = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Sink

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["content-length"])))
        self.server.spans += sum(
            len(scope.spans) for spans in request.resource_spans for scope in spans.scope_spans
        )
        self._answer(_EMPTY, "application/x-protobuf")

    def do_GET(self) -> None:
        self._answer(str(self.server.spans).encode(), "text/plain")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    server = Sink(("127.0.0.1", args.port), _Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
