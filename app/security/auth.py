"""`require_client`: the dependency in front of every protected router.

It answers 401 (no or unknown key) or 429 (rate limit) before the route runs, so before any
upstream call; routes answer 403 when a key asks for providers it may not call. With no keys
configured (the demo), loopback clients are let in as the principal `local` and everyone
else gets 401; production settings refuse to start that way (`setup.check_settings`).
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.security.api_keys import KeyStore, Principal
from app.security.rate_limit import RateLimiter, retry_after_header
from app.state import StateBackend

LOCAL = Principal("local", None, rate_limited=False)

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A client key from `API_KEYS`."
)
_bearer = HTTPBearer(auto_error=False, description="The same key as `Authorization: Bearer`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}


@dataclass(frozen=True, slots=True)
class SecurityState:
    """Built once per app by `setup.install_security`, read by every request."""

    keys: KeyStore
    limiter: RateLimiter | None
    # Set with REDIS_URL: the limiter's rate and burst, counted across every worker there.
    shared: StateBackend | None = None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


async def require_client(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the caller and spend one token of its rate limit."""
    state: SecurityState = request.app.state.security
    if not state.keys:
        client = request.client.host if request.client else None
        if is_loopback(client):
            return LOCAL
        raise _unauthorized(
            "no API keys are configured, so only loopback clients may call; "
            "configure API_KEYS (see `python -m app keys new`)"
        )
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise _unauthorized("an API key is required: send X-API-Key or Authorization: Bearer")
    principal = state.keys.verify(presented)
    if principal is None:
        raise _unauthorized("the API key is not valid")
    if state.limiter is not None and principal.rate_limited:
        limiter = state.limiter
        if state.shared is not None:
            wait_s = await state.shared.client_take(
                principal.name, limiter.rate_per_s, limiter.burst
            )
        else:
            wait_s = limiter.acquire(principal.name)
        if wait_s > 0:
            raise HTTPException(
                status_code=429,
                detail=f"rate limit of {state.limiter.rate_per_s:g} requests a second "
                f"(burst {state.limiter.burst}) exceeded for key {principal.name!r}",
                headers={"Retry-After": retry_after_header(wait_s)},
            )
    return principal


PrincipalDep = Annotated[Principal, Depends(require_client)]


async def authenticate(request: Request) -> Principal:
    """`require_client` for a route that resolves no dependencies (`api/protected_route.py`):
    the same headers read by the same security schemes, the same checks and answers."""
    bearer = await _bearer(request)
    return await require_client(request, await _api_key_header(request), bearer)


def forbidden(principal: Principal, positions: list[int]) -> HTTPException:
    """403 pointing at the refused names by position: an error never repeats the request."""
    allowed = ", ".join(sorted(principal.providers or ()))
    where = ", ".join(map(str, positions))
    return HTTPException(
        status_code=403,
        detail=f"key {principal.name!r} may not call the provider(s) at position {where} of "
        f"the request's providers; it may call: {allowed}",
    )


def scope_names(principal: Principal, names: list[str], every: Sequence[str]) -> list[str]:
    """The names a fan-out may call for `principal`; 403 for any it may not.

    No names means every provider the key may call, in registry order. A scoped key asking
    for a name outside its list gets 403 whether or not the name exists: the list of all
    providers is not its business.
    """
    if principal.providers is None:
        return names
    if not names:
        allowed = [n for n in every if principal.allows(n)]
        if not allowed:
            raise HTTPException(
                status_code=403, detail=f"key {principal.name!r} may call no provider"
            )
        return allowed
    refused = [i for i, name in enumerate(names, 1) if not principal.allows(name)]
    if refused:
        raise forbidden(principal, refused)
    return names
