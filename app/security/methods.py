"""405 answers that list every method the path takes.

Starlette answers a wrong method with the `Allow` of the first route that matched the path
only, so `/integrations/fetch` (a GET route and a POST route) claimed `Allow: GET`. The
methods are taken from the OpenAPI paths, the app's public description of its routes (the
router's own structure is private to FastAPI and changes between releases).
"""

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def install_allow_header(app: FastAPI) -> None:
    table: list[tuple[re.Pattern[str], set[str]]] = []

    def methods_for(path: str) -> set[str]:
        if not table:
            for template, operations in app.openapi().get("paths", {}).items():
                regex, _, _ = compile_path(template)
                methods = {m.upper() for m in operations if m in _HTTP_METHODS}
                table.append((regex, methods))
        found: set[str] = set()
        for regex, methods in table:
            if regex.match(path):
                found |= methods
        return found

    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        methods = methods_for(request.url.path)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse({"detail": "Method Not Allowed"}, 405, headers=headers)

    # Keyed by status code, so every other HTTPException keeps FastAPI's own handler.
    app.add_exception_handler(405, method_not_allowed)
