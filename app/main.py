"""`create_app()` and its lifespan: one HTTP client, one log writer, one manager per process.

`app.main:app` (what uvicorn serves) is built on first access, not at import: importing this
module never reads the environment, so tests and tools import it freely.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.api.admission import AdmissionMiddleware
from app.api.errors import install_error_handlers
from app.api.main import include_routers, operation_id
from app.api.openapi import install_provider_enum
from app.api.routes import dashboard, docs
from app.calllog import CallLogWriter
from app.calllog.http import install_backpressure_handler
from app.core.config import Settings, get_settings
from app.core.db import create_db_engine, create_session_factory
from app.core.migrate import upgrade_to_head
from app.core.runtime import ensure_open_files, tune_gc, tune_switch_interval
from app.http import create_http_client
from app.integrations.base import BaseApiProvider
from app.integrations.manager import ApiIntegrationManager
from app.integrations.providers._demo import DemoProvider
from app.integrations.registry import ProviderRegistry, with_secrets
from app.integrations.reuse import wants_store
from app.observability.call_observer import CallObserver
from app.observability.metrics import Metrics
from app.observability.request_id import RequestIdMiddleware
from app.observability.tracing import (
    TracingMiddleware,
    check_tracing,
    start_tracing,
    stop_tracing,
)
from app.resilience import compiled
from app.resilience.admission import Admission
from app.resilience.policy import check_policy_names, validate_policy_settings
from app.resilience.redis_store import RedisStore
from app.resilience.response_cache import CacheStore, MemoryStore
from app.security.setup import install_security
from app.simulator import Simulator
from app.state.shared import RedisState

logger = logging.getLogger(__name__)

DESCRIPTION = """
Fans one request out to many external HTTP APIs in parallel and returns every API's result
side by side. Every call is recorded as a row of `external_api_logs`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    registry: ProviderRegistry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app; tests pass their own settings, providers or HTTP transport."""
    settings = settings or get_settings()
    registry = registry or ProviderRegistry.load(settings.providers_dir)
    # Every check of the settings runs here, before anything starts, and names what to fix.
    validate_policy_settings(settings)
    # A policy for a provider we do not have is a typo that would silently do nothing.
    check_policy_names(settings.provider_policies, registry.names)
    check_tracing(os.environ)  # the OTEL_* variables ask for something we ship
    classes = with_secrets(
        [cls for cls in registry.classes() if settings.demo_providers_enabled or not _demo(cls)],
        settings,
    )

    observed = Metrics()
    # REDIS_URL: one state for every worker and replica; the connection opens in the lifespan.
    shared = (
        RedisState(
            settings.redis_url.get_secret_value(),
            prefix=settings.state_prefix,
            timeout_s=settings.redis_timeout_ms / 1000,
            reconnect_s=settings.redis_reconnect_ms / 1000,
        )
        if settings.redis_url is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # First in, last out: the writer's final batches and the last requests are traced.
            spans = start_tracing()
            if spans is not None:
                stack.push_async_callback(asyncio.to_thread, stop_tracing, spans)
            effective = settings
            if shared is not None:
                shared.publisher = observed.exposition
                await shared.start()  # never fails: a Redis that is away means local state
                stack.push_async_callback(shared.close)
            if settings.demo_upstream_url is None and any(_demo(cls) for cls in classes):
                simulator = Simulator(
                    settings.simulator_host,
                    settings.simulator_port,
                    latency_scale=settings.simulator_latency_scale,
                    error_rate=settings.simulator_error_rate,
                    drift_rate=settings.simulator_drift_rate,
                )
                await simulator.start()
                stack.push_async_callback(simulator.close)
                effective = settings.model_copy(update={"demo_upstream_url": simulator.url})
            if settings.db_auto_migrate:
                await asyncio.to_thread(upgrade_to_head, settings.database_url)
            engine = create_db_engine(settings.database_url)
            stack.callback(engine.dispose)
            # Opens the spool and replays what a previous run left in it, on its own thread.
            writer = CallLogWriter.from_settings(engine, settings)
            await asyncio.to_thread(writer.start)
            # On shutdown (after in-flight requests): flush the queue to the database or spool.
            stack.push_async_callback(asyncio.to_thread, writer.close)
            ensure_open_files(effective.http_max_connections)
            client = create_http_client(effective, transport)
            stack.push_async_callback(client.aclose)

            app.state.settings = effective
            app.state.http_client = client
            app.state.log_writer = writer
            app.state.session_factory = create_session_factory(engine)
            # Metrics and per-call log lines on the observer's thread, not the event loop.
            observer = CallObserver(writer, observed)
            observer.start()
            stack.push_async_callback(asyncio.to_thread, observer.close)
            providers = [cls(effective) for cls in classes]
            # One store for every provider's cached answers: Redis (shared by replicas) when
            # REDIS_URL is set, else this process's memory, bounded by bytes.
            store: CacheStore = MemoryStore(settings.cache_max_bytes)
            if settings.redis_url is not None:
                redis_store = RedisStore.from_url(
                    settings.redis_url.get_secret_value(),
                    settings.state_prefix,
                    timeout_ms=settings.redis_timeout_ms,
                    reconnect_ms=settings.redis_reconnect_ms,
                )
                stack.push_async_callback(redis_store.aclose)
                store = redis_store
            for provider in providers:
                if wants_store(provider.policy):
                    provider.attach_cache(store)
            app.state.manager = ApiIntegrationManager(
                providers,
                observer,
                default_timeout_ms=settings.request_timeout_ms,
            )
            if shared is not None:
                for provider in app.state.manager.providers:
                    provider.share_state(shared)
            observed.bind(writer.stats, app.state.manager.providers, admission, shared, spans)
            logger.info(
                "resilience policies: %s",
                "compiled (mypyc)" if compiled() else "Python (API_FANOUT_MYPYC=1 compiles them)",
            )
            stack.callback(
                tune_gc(
                    freeze_startup_heap=settings.gc_freeze_startup_heap,
                    gen0_threshold=settings.gc_gen0_threshold,
                )
            )
            stack.callback(tune_switch_interval(settings.gil_switch_interval_ms))
            yield

    app = FastAPI(
        title="API fan-out",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # FastAPI's pages load their scripts from a CDN; app/api/routes/docs.py serves ours.
        docs_url=None,
        redoc_url=None,
        # Our own server span (TracingMiddleware) instead: FastAPI's would record query values,
        # and its logs exception messages, should anything configure the global providers.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    include_routers(app)
    app.mount("/dashboard/assets", dashboard.assets_app(), name="dashboard-assets")
    app.mount(docs.ASSETS_PATH, docs.assets_app(), name="docs-assets")
    app.state.metrics = observed
    app.state.shared_state = shared
    install_backpressure_handler(app)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    install_provider_enum(app, [cls.name for cls in classes])
    # After the provider enum: it wraps the schema that one builds.
    install_security(app, settings, [cls.name for cls in classes], shared)
    # Outside everything but admission: the server span covers the whole request, the
    # security refusals included; a request shed under overload costs no span.
    app.add_middleware(TracingMiddleware)
    admission = build_admission(settings)
    app.state.admission = admission
    if admission is not None:
        # Outermost: a shed request costs nothing else of the app.
        app.add_middleware(
            AdmissionMiddleware,
            admission=admission,
            default_deadline_s=settings.request_timeout_ms / 1000,
            retry_after_s=settings.admission_retry_after_s,
            pace=settings.admission_pace_shed,
        )
    return app


def build_admission(settings: Settings) -> Admission | None:
    """The worker's admission control as the settings ask; None when turned off."""
    if settings.admission_mode == "off":
        return None
    return Admission(
        limit=settings.admission_max_in_flight,
        adaptive=settings.admission_mode == "adaptive",
        max_wait_s=settings.admission_max_wait_ms / 1000,
    )


def _demo(cls: type[BaseApiProvider]) -> bool:
    """A demo provider (code, or a file whose URL starts with `${DEMO_UPSTREAM_URL}`) calls
    the simulator: left out when DEMO_PROVIDERS_ENABLED is false."""
    return issubclass(cls, DemoProvider) or bool(getattr(cls, "demo", False))


def __getattr__(name: str) -> Any:
    """`app`, built from the environment's settings on first access (uvicorn's `app.main:app`)."""
    if name == "app":
        built = globals()["app"] = create_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
