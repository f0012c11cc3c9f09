"""Every router of the app, in one place.

The routers that serve data (`/integrations/*`, `/metrics`) are included once, under one
dependency list: the client-key check (`app.security`). Health checks, the dashboard page and
the docs stay open: load balancers call the first, and the others hold no data.
"""

from fastapi import APIRouter
from fastapi.routing import APIRoute

from app.api.routes import dashboard, docs, health, integrations, logs, metrics, requests, stats
from app.security.setup import PROTECTED, PROTECTED_RESPONSES

protected = APIRouter(dependencies=PROTECTED, responses=PROTECTED_RESPONSES)
for module in (integrations, logs, stats, requests, metrics):
    protected.include_router(module.router)

api_router = APIRouter()
api_router.include_router(protected)
api_router.include_router(health.router)
api_router.include_router(dashboard.router)
api_router.include_router(docs.router)


def operation_id(route: APIRoute) -> str:
    """The route function's name (`fetch`, `list_logs`): what a generated client calls it."""
    return route.name
