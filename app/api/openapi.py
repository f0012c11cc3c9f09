"""Put the registered provider names into the OpenAPI schema as an enum.

The names are only known once providers are discovered, so instead of a hand-kept Enum the
generated schema is amended: the docs page then offers the names in a drop-down.
"""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


def install_provider_enum(app: FastAPI, names: Sequence[str]) -> None:
    enum_items = {"type": "string", "enum": list(names)}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _amend(schema, enum_items)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _amend(schema: dict[str, Any], enum_items: dict[str, Any]) -> None:
    fetch = schema.get("paths", {}).get("/integrations/fetch", {})
    for param in fetch.get("get", {}).get("parameters", []):
        if param.get("name") in ("providers", "required"):
            title = str(param["name"]).title()
            param["schema"] = {"type": "array", "items": enum_items, "title": title}
    # The logs and stats filters take the same names (checked in app/api/names.py).
    for path in ("/integrations/logs", "/integrations/stats"):
        for param in schema.get("paths", {}).get(path, {}).get("get", {}).get("parameters", []):
            if param.get("name") == "provider":
                param["schema"] = {"type": "array", "items": enum_items, "title": "Provider"}
    body = schema.get("components", {}).get("schemas", {}).get("FetchRequest", {})
    if "providers" in body.get("properties", {}):
        body["properties"]["providers"]["anyOf"] = [
            {"type": "array", "items": enum_items},
            {"type": "null"},
        ]
    if "required" in body.get("properties", {}):
        body["properties"]["required"]["items"] = enum_items
    if "provider_params" in body.get("properties", {}):
        body["properties"]["provider_params"]["propertyNames"] = enum_items
