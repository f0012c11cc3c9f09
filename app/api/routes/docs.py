"""`GET /docs` (Swagger UI) and `GET /redoc`, with their assets served by the app, no CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and stay blank without internet.
These are the same pages (`get_swagger_ui_html`, `get_redoc_html`) pointed at the copies in
`app/docs_ui`, vendored from npm (versions and licences in its README). Neither page holds
data, so both stay open: "Authorize" in Swagger UI takes a key for the calls it makes.
"""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parents[2] / "docs_ui"
ASSETS_PATH = "/docs/assets"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    # Behind a proxy that strips a prefix (`--root-path`), the browser needs it back.
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI schema."""
    root = _root(request)
    assets = f"{root}{ASSETS_PATH}/swagger-ui"
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} · Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the app's OpenAPI schema."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} · ReDoc",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/swagger-ui/favicon-32x32.png",
        # Google's fonts are a CDN too; ReDoc falls back to the system's.
        with_google_fonts=False,
    )


def assets_app() -> StaticFiles:
    """Swagger UI's and ReDoc's files, mounted at `ASSETS_PATH`."""
    return StaticFiles(directory=ASSETS)
