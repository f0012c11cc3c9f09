"""OpenTelemetry traces: set up from the standard `OTEL_*` variables, and the server span.

Tracing is on when an exporter is configured: `OTEL_TRACES_EXPORTER=otlp` (or `console`), or
an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) with
`OTEL_TRACES_EXPORTER` unset. The SDK reads everything else itself: `OTEL_SERVICE_NAME` and
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, the OTLP
exporter's endpoint, headers and timeout, and the batch processor's `OTEL_BSP_*`. Spans leave
in batches, from the SDK's own thread, over OTLP/HTTP with protobuf.
"""

import os
from collections.abc import Mapping

from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import tracing
from app.security.redaction import redact_text

_EXPORTERS = ("otlp", "console", "none")
_PROTOCOL = "http/protobuf"
_W3C = TraceContextTextMapPropagator()
_GETTER = DefaultGetter()
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"


class TracingConfigError(ValueError):
    """An `OTEL_*` variable asks for something this service does not ship."""


def exporter_name(environ: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for, or None (tracing off); raises when unusable."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if not names:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        names = ["otlp"] if endpoint else ["none"]
    if len(names) > 1 or names[0] not in _EXPORTERS:
        raise TracingConfigError(
            "OTEL_TRACES_EXPORTER must be one of otlp, console or none (one exporter)"
        )
    if names[0] == "otlp":
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", _PROTOCOL
        )
        if protocol.strip().lower() != _PROTOCOL:
            raise TracingConfigError(
                "OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported; "
                "unset it or point the endpoint at an OTLP/HTTP receiver (port 4318)"
            )
    return None if names[0] == "none" else names[0]


def start_tracing(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Configure `app.core.tracing` from the environment; None (and untouched) when off."""
    name = exporter_name(environ)
    if name is None:
        return None
    exporter: SpanExporter
    if name == "otlp":
        # Imported here: with tracing off, the exporter (and `requests`) is never loaded.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "api-fanout"}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing.configure(provider)
    return provider


def stop_tracing(provider: TracerProvider) -> None:
    """Export what is queued and stop (blocking: call it off the loop)."""
    if tracing.provider() is provider:
        tracing.reset()
    provider.shutdown()


class TracingMiddleware:
    """The server span of each HTTP request, continuing an incoming `traceparent`.

    It records the method, the route template, the path (known secrets redacted) and the
    status; never the query string or a header. Tracing off: one attribute read per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = tracing.tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier: dict[str, str] = {}
        for key, value in scope["headers"]:
            if key in (_TRACEPARENT, _TRACESTATE):
                carrier[key.decode()] = value.decode("latin-1")
        # An invalid traceparent is ignored (W3C): the request starts a trace of its own.
        parent = _W3C.extract(carrier, getter=_GETTER) if carrier else None
        method = scope["method"]
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.scheme": scope.get("scheme", "http"),
                "url.path": redact_text(scope["path"]),
            },
            record_exception=False,  # an exception's text may hold what a client sent
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_traced)
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(StatusCode.ERROR)
                raise
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                request_id = scope.get("state", {}).get("request_id")
                if isinstance(request_id, str):
                    span.set_attribute("fanout.request_id", request_id)
                if status:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_attribute("error.type", str(status))
                        span.set_status(StatusCode.ERROR)
