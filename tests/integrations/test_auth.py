"""`OAuth2ClientCredentials` against the real simulator's token endpoint, on a fake clock."""

from collections.abc import AsyncIterator

import pytest

from app.core.errors import AuthError
from app.http import HttpClient, create_http_client
from app.integrations.auth import OAuth2ClientCredentials
from app.simulator import Simulator
from app.simulator import secured as sim
from tests.integrations.files.helpers import settings
from tests.support.clock import FakeClock


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[HttpClient]:
    async with create_http_client(settings(simulator.url)) as shared:
        yield shared


def _auth(
    simulator: Simulator, clock: FakeClock, secret: str = sim.CLIENT_SECRET
) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        f"{simulator.url}/oauth/token",
        sim.CLIENT_ID,
        secret,
        refresh_before_s=30,
        clock=clock.monotonic,
    )


async def test_a_token_is_kept_until_shortly_before_it_expires(
    simulator: Simulator, client: HttpClient
) -> None:
    clock = FakeClock()
    auth = _auth(simulator, clock)
    first = await auth.token(client)
    clock.advance(sim.TOKEN_LIFETIME_S - 31)
    assert await auth.token(client) == first
    clock.advance(2)  # now within 30 s of expiry
    assert await auth.token(client) != first
    assert simulator.secured.token_requests == 2


async def test_invalidate_drops_only_the_token_that_was_refused(
    simulator: Simulator, client: HttpClient
) -> None:
    auth = _auth(simulator, FakeClock())
    old = await auth.token(client)
    auth.invalidate(old)
    new = await auth.token(client)
    auth.invalidate(old)  # a late 401 of a call that used the old token
    assert await auth.token(client) == new
    assert simulator.secured.token_requests == 2


async def test_a_refused_client_is_an_auth_error_without_the_secret(
    simulator: Simulator, client: HttpClient
) -> None:
    auth = _auth(simulator, FakeClock(), secret="not-the-client-secret")
    with pytest.raises(AuthError) as caught:
        await auth.token(client)
    assert str(caught.value) == "token endpoint: upstream answered HTTP 401 Unauthorized"
