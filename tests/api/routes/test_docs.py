"""`/docs` and `/redoc` work offline, open without a key, on a server that has keys.

In the browser every non-loopback request is aborted (`loopback_only`), so a page that still
loads Swagger UI, ReDoc, a font or an icon from a CDN breaks here the way it breaks offline.
Without a browser, every asset the pages name must come from the app.
"""

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.api.routes.docs import ASSETS
from tests.security.helpers import new_key
from tests.support.browser import launched_chromium, loopback_only, serving


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server with one client key: the docs page must get it through "Authorize"."""
    key, entry = new_key("docs")
    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'calls.db'}"
    with serving(url, api_keys=[entry]) as served:
        yield served, key


@pytest.fixture
def context(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    opened = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield opened, loopback_only(opened)
    finally:
        opened.close()


def test_swagger_ui_renders_offline_and_try_it_out_uses_the_authorized_key(
    context: tuple[Any, list[str]], keyed_server: tuple[str, str]
) -> None:
    browser_context, blocked = context
    served, key = keyed_server
    page = browser_context.new_page()
    sent: list[str | None] = []
    page.on(
        "request",
        lambda r: sent.append(r.headers.get("x-api-key")) if "/integrations/" in r.url else None,
    )
    page.goto(f"{served}/docs")
    page.wait_for_selector("#operations-integrations-list_providers")
    assert page.locator(".opblock").count() >= 8
    assets = page.evaluate(
        "[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert assets
    assert all(a.startswith(f"{served}/docs/assets/") for a in assets)

    page.click("button.authorize")
    dialog = page.locator(".modal-ux")
    dialog.locator("input").first.fill(key)  # the first scheme: APIKeyHeader (X-API-Key)
    dialog.locator("button.authorize").first.click()
    dialog.get_by_text("Authorized", exact=True).wait_for()  # Swagger UI took the key
    dialog.locator("button.close-modal").click()

    operation = page.locator("#operations-integrations-list_providers")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    responses = operation.locator(".live-responses-table")
    responses.locator("tr.response .response-col_status").first.wait_for()
    assert responses.locator("tr.response .response-col_status").first.inner_text().strip() == "200"
    assert '"weather"' in responses.locator("pre.microlight").first.inner_text()
    assert sent == [key]
    assert blocked == []


def test_redoc_renders_offline(
    context: tuple[Any, list[str]], keyed_server: tuple[str, str]
) -> None:
    browser_context, blocked = context
    served, _ = keyed_server
    page = browser_context.new_page()
    page.goto(f"{served}/redoc")
    page.wait_for_selector("[data-section-id='operation/list_providers']")
    assert "List" in page.locator("[data-section-id='operation/list_providers'] h2").inner_text()
    assert page.locator("[data-section-id^='operation/']").count() >= 8
    assert blocked == []


def test_every_docs_asset_is_in_the_package_data() -> None:
    """An installed wheel holds only what pyproject's package-data names."""
    app_dir = ASSETS.parent
    patterns = tomllib.loads((app_dir.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["app"]
    packaged = {p for pattern in patterns for p in app_dir.glob(pattern) if p.is_file()}
    shipped = {p for p in ASSETS.rglob("*") if p.is_file()}
    assert {"swagger-ui-bundle.js", "redoc.standalone.js", "LICENSE", "NOTICE"} <= {
        p.name for p in shipped
    }
    assert shipped <= packaged, sorted(str(p.relative_to(app_dir)) for p in shipped - packaged)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_page_is_served_by_the_app_without_a_key(
    keyed_server: tuple[str, str], page: str
) -> None:
    """Without a browser: each `src`/`href` of the page is one of ours, and answers."""
    served, _ = keyed_server
    with httpx.Client(base_url=served) as http:
        html = http.get(page).text
        links = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert len(links) >= 2
        for link in links:
            assert link.startswith("/docs/assets/"), link
            assert http.get(link).status_code == 200, link
        assert http.get("/openapi.json").status_code == 200
