"""`/integrations`: the fan-out itself and the provider listing."""

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.deps import (
    ClientDep,
    ManagerDep,
    SettingsDep,
    get_http_client,
    get_manager,
    get_settings_dep,
)
from app.api.fetch_query import openapi_parameters, read_fetch_query
from app.api.names import invalid, positions, resolve_names, split_names
from app.api.protected_route import ProtectedRoute
from app.core.config import Settings
from app.integrations.manager import ApiIntegrationManager
from app.integrations.quorum import PARTIAL_HEADER
from app.integrations.schemas import FetchRequest, FetchResponse, ProviderInfo
from app.observability.request_id import RequestIdDep, request_id_of
from app.security.api_keys import Principal
from app.security.auth import PrincipalDep, scope_names
from app.security.limits import check_params, check_providers

router = APIRouter(prefix="/integrations", tags=["integrations"])

FETCH_DESCRIPTION = """
Calls the selected providers (all when none is named) concurrently and returns every result
side by side, in the order requested. Upstream failures never fail the request: each failed
call is a result with `success=false` and an `error_kind`, and the answer is **200** even when
every provider failed (`summary.failed == summary.total`), unless the request sets rules:
`required` providers must succeed and at least `min_success` providers must succeed, else
the answer is **502** (**504** when every failure that broke a rule was a timeout) with the
same full body and `summary.unmet` saying why. Rules no outcome could meet (a `required`
provider the request does not call, a `min_success` above the number it calls) are **422**,
before any upstream call. Every answer carries `X-Partial: true|false` (also
`summary.partial`): true when some provider failed.

Parameters go to every provider (`params`; on GET, any other query key) unless they name one:
`provider_params: {"repo_stats": {"repo": "octocat/hello-world"}}` in the POST body, or
`?repo_stats.repo=octocat/hello-world` in the GET query string, reach `repo_stats` only and win
over the shared ones there. A value a selected provider cannot use (a required parameter left
out, a path value that would change its target, a wrong type) is a **422** naming the provider
and the parameter, before any upstream call.

Providers with a response cache may answer from it (`cache: hit`); `Cache-Control: no-cache`
on the request makes every provider call its upstream.
"""

_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Unknown or empty provider name, rules no outcome could meet "
        "(`required` outside the providers called, `min_success` above their number), "
        "malformed parameters or body, or over a limit (providers per request, params count "
        "or length; the message names the setting). Never echoes the offending value."
    }
}
_PARTIAL_DOC = {
    PARTIAL_HEADER: {
        "description": "`true` when some provider failed, else `false`.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}
_ERRORS[200] = {"headers": _PARTIAL_DOC}
_ERRORS[502] = {
    "model": FetchResponse,
    "headers": _PARTIAL_DOC,
    "description": "`required` or `min_success` unmet; every provider's result is in the body.",
}
_ERRORS[504] = {
    "model": FetchResponse,
    "headers": _PARTIAL_DOC,
    "description": "As 502, when every failure that broke a rule was a timeout.",
}
_ERRORS[503] = {
    "description": "Not started: the worker is at capacity, or the request's `timeout_ms` "
    "leaves no time to wait for a slot (admission control); or strict mode could not make "
    "the call log's rows durable in time. Retry after `Retry-After` seconds.",
    "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
}


async def _run(
    manager: ApiIntegrationManager,
    client: ClientDep,
    settings: Settings,
    principal: Principal,
    *,
    providers: list[str] | None,
    params: dict[str, Any],
    timeout_ms: int | None,
    location: tuple[str, ...],
    request_id: str,
    required: list[str] | None,
    min_success: int | None,
    provider_params: dict[str, dict[str, Any]],
    cache_control: str | None,
) -> Response:
    """What GET and POST share: limits, key scope, names, the rules' sense, fan-out, answer."""
    names = split_names(providers, location)
    check_providers(names, settings, location)
    selected = resolve_names(manager, scope_names(principal, names, manager.names), location)
    required_at = (location[0], "required")
    required_names = split_names(required, required_at)
    wanted = resolve_names(manager, required_names, required_at) or []
    _check_rules(selected or manager.names, required_names, wanted, min_success, location[0])
    resolve_names(manager, list(provider_params), (location[0], "provider_params"))
    _check_provider_params(manager, selected, params, provider_params, location[0])
    result = await manager.fetch_all(
        client,
        params,
        names=selected,
        timeout_ms=timeout_ms,
        request_id=request_id,
        required=wanted,
        min_success=min_success,
        provider_params=provider_params,
        use_cache=not _no_cache(cache_control),
    )
    # Built with model_construct from validated parts: serialise directly, skip re-validation.
    return Response(
        result.model_dump_json(),
        status_code=result.status_code,
        media_type="application/json",
        headers={PARTIAL_HEADER: "true" if result.summary.partial else "false"},
    )


def _check_rules(
    called: list[str], required: list[str], wanted: list[str], min_success: int | None, at: str
) -> None:
    """Rules no outcome can meet are the client's mistake: 422 before any upstream call."""
    outside = {name for name in wanted if name not in called}
    if outside:
        raise invalid(
            "required_not_called",
            (at, "required"),
            f"`required` names a provider this request does not call (position "
            f"{positions(required, outside)}); add it to `providers` or drop it from `required`",
        )
    if min_success is not None and min_success > len(called):
        raise invalid(
            "min_success_unreachable",
            (at, "min_success"),
            f"`min_success` is more than the {len(called)} provider(s) this request calls, so it "
            f"can never be met; set it to at most {len(called)} or call more providers",
        )


def _check_provider_params(
    manager: ApiIntegrationManager,
    selected: list[str] | None,
    params: dict[str, Any],
    provider_params: dict[str, dict[str, Any]],
    at: str,
) -> None:
    """A value no call could use is the client's to fix: 422 before any upstream call."""
    problems = manager.param_problems(selected, params, provider_params)
    if problems:
        provider, param, message = problems[0]
        loc = (at, "provider_params", provider, param)
        raise invalid("invalid_provider_param", loc, f"{provider}: {message}")


def _no_cache(header: str | None) -> bool:
    """`Cache-Control: no-cache` (or `no-store`, or `max-age=0`): call every upstream."""
    if not header:
        return False
    directives = {part.strip().lower().replace(" ", "") for part in header.split(",")}
    return bool(directives & {"no-cache", "no-store", "max-age=0"})


async def fetch(request: Request, principal: PrincipalDep) -> Response:
    """Fan out to providers; other query parameters are passed to them as params
    (`<provider>.<param>=value`: to that provider only)."""
    # The query and the app's parts are read here, not declared: the hot path is served
    # without FastAPI's per-request resolution (`ProtectedRoute`, `fetch_query.py`).
    query, items = read_fetch_query(request.query_params)
    settings = await get_settings_dep(request)
    check_params(items, settings, ("query",))
    params: dict[str, Any] = {}
    provider_params: dict[str, dict[str, Any]] = {}
    for key, value in items:
        provider, dot, name = key.partition(".")
        if dot:
            provider_params.setdefault(provider, {})[name] = value
        else:
            params[key] = value
    return await _run(
        await get_manager(request),
        await get_http_client(request),
        settings,
        principal,
        providers=query.providers,
        params=params,
        timeout_ms=query.timeout_ms,
        location=("query", "providers"),
        request_id=request_id_of(request),
        required=query.required,
        min_success=query.min_success,
        provider_params=provider_params,
        cache_control=request.headers.get("cache-control"),
    )


router.add_api_route(
    "/fetch",
    fetch,
    methods=["GET"],
    route_class_override=ProtectedRoute,
    response_model=FetchResponse,
    responses=_ERRORS,
    description=FETCH_DESCRIPTION,
    openapi_extra={"parameters": openapi_parameters()},
)


@router.post(
    "/fetch", response_model=FetchResponse, responses=_ERRORS, description=FETCH_DESCRIPTION
)
async def fetch_post(
    request: Request,
    body: FetchRequest,
    client: ClientDep,
    manager: ManagerDep,
    request_id: RequestIdDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> Response:
    """Fan out to providers with a JSON body of providers, params and timeout."""
    check_params(list(body.params.items()), settings, ("body", "params"))
    # Each provider's own params are held to the same limits as the shared ones.
    check_providers(list(body.provider_params), settings, ("body", "provider_params"))
    for provider, values in body.provider_params.items():
        check_params(list(values.items()), settings, ("body", "provider_params", provider))
    return await _run(
        manager,
        client,
        settings,
        principal,
        providers=body.providers,
        params=body.params,
        timeout_ms=body.timeout_ms,
        location=("body", "providers"),
        request_id=request_id,
        required=body.required,
        min_success=body.min_success,
        provider_params=body.provider_params,
        cache_control=request.headers.get("cache-control"),
    )


@router.get("/providers", response_model=list[ProviderInfo])
async def list_providers(manager: ManagerDep, principal: PrincipalDep) -> list[ProviderInfo]:
    """List the providers the caller may call, with endpoints and settings (never secrets)."""
    return [p.info() for p in manager.providers if principal.allows(p.name)]
