"""Put the configured request limits into the OpenAPI schema of `/integrations/fetch`.

The limits are settings, so the static models cannot carry them; the generated schema is
amended instead, and clients (and schemathesis) see what the server will accept.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.core.config import Settings

_ERROR = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"detail": {"type": "string"}}}
        }
    }
}

PROTECTED_RESPONSES: dict[int | str, dict[str, Any]] = {
    # FastAPI's own answer to a body it cannot decode at all (not UTF-8, say).
    400: {"description": "The request body could not be read.", **_ERROR},
    401: {"description": "No API key, or one that is not configured.", **_ERROR},
    403: {"description": "The key may not call a requested provider.", **_ERROR},
    413: {"description": "Request body larger than MAX_BODY_BYTES.", **_ERROR},
    429: {
        "description": "Rate limit of the key exceeded; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        **_ERROR,
    },
}


def install_limits_schema(app: FastAPI, settings: Settings) -> None:
    previous: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = previous()
            _amend(schema, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _amend(schema: dict[str, Any], settings: Settings) -> None:
    fetch = schema.get("paths", {}).get("/integrations/fetch", {})
    for param in fetch.get("get", {}).get("parameters", []):
        if param.get("name") == "providers":
            _limit_array(param.get("schema", {}), settings.max_providers_per_request)
    body = schema.get("components", {}).get("schemas", {}).get("FetchRequest", {})
    properties = body.get("properties", {})
    if "providers" in properties:
        _limit_array(properties["providers"], settings.max_providers_per_request)
    params = properties.get("params")
    if params is not None:
        _limit_params(params, settings)
    own = properties.get("provider_params")
    if own is not None:
        # Each provider's own params are held to the limits of the shared ones.
        own["maxProperties"] = settings.max_providers_per_request
        _limit_params(own.get("additionalProperties", {}), settings)


def _limit_params(params: dict[str, Any], settings: Settings) -> None:
    params["maxProperties"] = settings.max_params
    params["propertyNames"] = {"maxLength": settings.max_param_length}
    for option in params.get("additionalProperties", {}).get("anyOf", []):
        if option.get("type") == "string":
            option["maxLength"] = settings.max_param_length


def _limit_array(schema: dict[str, Any], max_items: int) -> None:
    if schema.get("type") == "array":
        schema["maxItems"] = max_items
    for option in schema.get("anyOf", []):
        if option.get("type") == "array":
            option["maxItems"] = max_items
