"""Dependencies shared by the routes, as `Annotated` aliases.

The non-blocking ones are `async def`: FastAPI runs a plain `def` dependency in its thread
pool, a hand-off per request that showed up in the fan-out profile.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.http import HttpClient
from app.integrations.manager import ApiIntegrationManager


async def get_http_client(request: Request) -> HttpClient:
    client: HttpClient = request.app.state.http_client
    return client


async def get_manager(request: Request) -> ApiIntegrationManager:
    manager: ApiIntegrationManager = request.app.state.manager
    return manager


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db_session(request: Request) -> Iterator[Session]:
    """A sync session: only `def` routes (run in a worker thread) may take it."""
    with request.app.state.session_factory() as session:
        yield session


ClientDep = Annotated[HttpClient, Depends(get_http_client)]
ManagerDep = Annotated[ApiIntegrationManager, Depends(get_manager)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_db_session)]
