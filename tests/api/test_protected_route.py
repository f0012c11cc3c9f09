"""A `ProtectedRoute` checks the client key itself, on whatever router it is put."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response

from app.api.errors import install_error_handlers
from app.api.protected_route import ProtectedRoute, check_endpoint
from app.security.api_keys import ApiKeyEntry, KeyStore, Principal, generate_key, hash_key
from app.security.auth import SecurityState
from tests.security.helpers import LOOPBACK, REMOTE


async def whoami(request: Request, principal: Principal) -> Response:
    return Response(principal.name)


def bare_app(keys: KeyStore) -> FastAPI:
    """No `PROTECTED` dependency anywhere: only the route class stands guard."""
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()
    router.add_api_route("/who", whoami, methods=["GET"], route_class_override=ProtectedRoute)
    app.include_router(router)
    app.state.security = SecurityState(keys=keys, limiter=None)
    return app


@asynccontextmanager
async def client(app: FastAPI, address: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_without_keys_only_loopback_gets_in() -> None:
    app = bare_app(KeyStore([]))
    async with client(app, LOOPBACK) as http:
        assert (await http.get("/who")).text == "local"
    async with client(app, REMOTE) as http:
        response = await http.get("/who")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


async def test_a_key_by_header_or_bearer_names_its_holder_and_a_wrong_one_is_401() -> None:
    key = generate_key()
    app = bare_app(KeyStore([ApiKeyEntry(name="ops", sha256=hash_key(key))]))
    async with client(app, LOOPBACK) as http:  # loopback is no excuse once keys exist
        assert (await http.get("/who")).status_code == 401
        assert (await http.get("/who", headers={"X-API-Key": key})).text == "ops"
        bearer = {"Authorization": f"Bearer {key}"}
        assert (await http.get("/who", headers=bearer)).text == "ops"
        wrong = await http.get("/who", headers={"X-API-Key": key + "x"})
    assert wrong.status_code == 401
    assert key not in wrong.text


def test_an_endpoint_it_cannot_call_is_refused_when_the_route_is_built() -> None:
    def sync(request: Request, principal: Principal) -> Response:
        return Response()

    async def more(request: Request, principal: Principal, extra: int) -> Response:
        return Response()

    for endpoint in (sync, more):
        with pytest.raises(TypeError, match=r"exactly \(request, principal\)"):
            check_endpoint(endpoint)
        with pytest.raises(TypeError):
            APIRouter().add_api_route("/x", endpoint, route_class_override=ProtectedRoute)
    check_endpoint(whoami)
