"""`GET /dashboard`: the page for people. Every asset ships in `app/dashboard`, no CDN."""

import html
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.api.deps import SettingsDep

ASSETS = Path(__file__).resolve().parents[2] / "dashboard"

router = APIRouter(tags=["dashboard"])


@lru_cache(maxsize=1)
def _page_template() -> str:
    return (ASSETS / "index.html").read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(settings: SettingsDep) -> HTMLResponse:
    """Serve the dashboard page: provider table, latency and failure chart, recent errors."""
    page = (
        _page_template()
        .replace("{{REFRESH_S}}", str(settings.dashboard_refresh_s))
        # An attribute value: escaped, though the setting is the operator's own.
        .replace("{{TRACE_URL}}", html.escape(settings.trace_url_template or "", quote=True))
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def assets_app() -> StaticFiles:
    """The page's CSS and JavaScript, mounted at /dashboard/assets."""
    return StaticFiles(directory=ASSETS)
