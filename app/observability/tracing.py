"""OpenTelemetry traces: set up from the standard `OTEL_*` variables, and the server span.

Tracing is on when an exporter is configured: `OTEL_TRACES_EXPORTER=otlp` (or `console`), or
an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) with
`OTEL_TRACES_EXPORTER` unset. Spans are ours (`app.core.spans`), queued and sent in batches
from a thread of their own (`span_pipeline`), encoded by hand (`otlp`) and POSTed over
OTLP/HTTP with protobuf (`otlp_http`), each step configured by the variables the SDK reads.
Of the SDK we keep what is off the hot path: the resource (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`), the samplers (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`)
and the console exporter.
"""

import os
from collections.abc import Mapping

from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import tracing
from app.core.spans import LightSpan
from app.observability.otlp import Encoder
from app.observability.otlp_http import ExportConfig, OtlpHttpSender, TracingConfigError
from app.observability.span_pipeline import BatchSettings, Export, SpanPipeline
from app.security.redaction import redact_text

__all__ = [
    "TracingConfigError",
    "TracingMiddleware",
    "check_tracing",
    "exporter_name",
    "start_tracing",
    "stop_tracing",
]

_EXPORTERS = ("otlp", "console", "none")
_PROTOCOL = "http/protobuf"
_W3C = TraceContextTextMapPropagator()
_GETTER = DefaultGetter()
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"


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


def check_tracing(environ: Mapping[str, str]) -> None:
    """Raise `TracingConfigError` if the `OTEL_*` variables ask for what we cannot do
    (`create_app` calls it, before anything starts)."""
    name = exporter_name(environ)
    if name is not None:
        BatchSettings.from_environ(environ)
        if name == "otlp":
            OtlpHttpSender(ExportConfig.from_environ(environ))


def start_tracing(environ: Mapping[str, str] = os.environ) -> SpanPipeline | None:
    """Configure `app.core.tracing` from the environment; None (and untouched) when off."""
    name = exporter_name(environ)
    if name is None:
        return None
    settings = BatchSettings.from_environ(environ)
    # The SDK's tracing only now: with tracing off it is never imported.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

    from app.observability.readable import ConsoleExport

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "api-fanout"}))
    export: Export
    if name == "otlp":
        sender = OtlpHttpSender(ExportConfig.from_environ(environ))
        encoder = Encoder(resource.attributes, tracing.SCOPE)
        where = sender.where

        def export(spans: list[LightSpan], deadline: float, retry: bool) -> str | None:
            return sender.send(encoder.encode(spans), deadline, retry)

    else:
        export, where = ConsoleExport(resource), "the console"
    # The sampler the SDK's own provider would take (OTEL_TRACES_SAMPLER, _ARG).
    pipeline = SpanPipeline(_get_from_env_or_default(), export, where, settings)
    tracing.configure(pipeline.tracer)
    return pipeline


def stop_tracing(pipeline: SpanPipeline) -> None:
    """Export what is queued and stop (blocking: call it off the loop)."""
    if tracing.tracer is pipeline.tracer:
        tracing.reset()
    pipeline.shutdown()


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
