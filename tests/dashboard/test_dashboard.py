"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on a real server."""

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.main import create_app
from tests.conftest import make_settings
from tests.observability.seeding import call, percentile_cont, seed
from tests.security.helpers import new_key
from tests.support.polling import wait_until
from tests.support.providers import demo_registry

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = '<img src=x onerror="document.body.dataset.pwned=1">'
WEATHER_MS = [12.0, 15.0, 18.0, 22.0, 30.0, 41.0, 55.0, 80.0, 120.0, 300.0]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def _rows(now: datetime) -> list[dict[str, Any]]:
    def at(ago_s: float) -> float:
        # seeding.call counts back from its fixed NOW; shift so rows land relative to `now`.
        from tests.observability.seeding import NOW

        return ago_s + (NOW - now).total_seconds()

    rows = [call("weather", ms, ago_s=at(300 + 20 * i)) for i, ms in enumerate(WEATHER_MS)]
    rows += [
        call("weather", 900.0, ago_s=at(120), kind="timeout", status=None, message="no answer"),
        call("stock_quotes", 25.0, ago_s=at(600)),
        call("stock_quotes", 35.0, ago_s=at(200), kind="http_status", status=503, message=XSS),
    ]
    return rows


@contextmanager
def _serving(database_url: str, **overrides: Any) -> Iterator[str]:
    app = create_app(
        make_settings(database_url, demo_upstream_url="http://127.0.0.1:9", **overrides),
        registry=demo_registry(),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn did not start"
        return server.started

    wait_until(started, timeout_s=20, what="uvicorn starting")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'calls.db'}"
    seed(url, _rows(datetime.now(UTC)))
    with _serving(url) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, server_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    opened.goto(f"{server_url}/dashboard?window=1h")
    opened.wait_for_selector("body[data-loaded]")
    try:
        yield opened
    finally:
        context.close()


def _cell(page: Any, provider: str, column: str) -> str:
    text: str = page.locator(f'#providers tr[data-provider="{provider}"] td.{column}').inner_text()
    return text


def test_table_renders_the_seeded_numbers(page: Any) -> None:
    all_ms = [*WEATHER_MS, 900.0]
    assert _cell(page, "weather", "calls") == "11"
    assert _cell(page, "weather", "success") == "90.9%"
    assert _cell(page, "weather", "p95") == f"{percentile_cont(all_ms, 0.95):.1f}"
    assert _cell(page, "weather", "p50") == f"{percentile_cont(all_ms, 0.5):.1f}"
    assert "no answer" in _cell(page, "weather", "last-error")
    assert _cell(page, "stock_quotes", "calls") == "2"
    assert _cell(page, "stock_quotes", "success") == "50.0%"
    assert page.locator("#total-calls").inner_text() == "13"
    assert page.locator("#total-failures").inner_text() == "2"
    # Every demo provider has a circuit breaker (resilience policy default), all closed.
    assert page.locator("#providers th.breaker").is_visible()
    assert _cell(page, "weather", "breaker") == "closed"


def test_chart_renders_the_seeded_series(page: Any) -> None:
    buckets = page.locator("#chart g.bucket")
    assert buckets.count() in (60, 61)  # an unaligned window ends in a partial bucket
    calls = [int(v) for v in buckets.evaluate_all("gs => gs.map(g => g.dataset.calls)")]
    failures = [int(v) for v in buckets.evaluate_all("gs => gs.map(g => g.dataset.failures)")]
    assert sum(calls) == 13
    assert sum(failures) == 2
    assert page.locator("#chart rect.bar-fail").count() == 2
    assert page.locator("#chart path.p95").count() == 1
    titles = buckets.evaluate_all("gs => gs.map(g => g.querySelector('title').textContent)")
    assert any("1 calls, 1 failed, p95 900.0 ms" in t for t in titles)


def test_recent_errors_are_text_never_html(page: Any) -> None:
    rows = page.locator("#errors tbody tr")
    assert rows.count() == 2
    assert XSS in rows.nth(1).inner_text() or XSS in rows.nth(0).inner_text()
    assert page.locator("#errors img").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None


def test_provider_and_window_pickers(page: Any) -> None:
    page.select_option("#provider", "stock_quotes")
    page.wait_for_function("document.querySelectorAll('#providers tbody tr').length === 1")
    assert _cell(page, "stock_quotes", "calls") == "2"
    assert "provider=stock_quotes" in page.url
    page.wait_for_function("document.querySelector('#total-calls').textContent === '2'")
    assert page.locator("#errors tbody tr").count() == 1

    page.select_option("#window", "15m")
    page.wait_for_function("document.querySelector('#bucket').textContent.includes('15 s')")
    assert "window=15m" in page.url


def test_auto_refresh_fetches_again(browser: Any, server_url: str) -> None:
    context = browser.new_context()
    try:
        opened = context.new_page()
        # A one-second clock step instead of waiting for the configured interval.
        opened.clock.install()
        opened.goto(f"{server_url}/dashboard")
        opened.wait_for_selector("body[data-loaded]")
        before = int(opened.evaluate("document.body.dataset.loaded"))
        refresh_s = int(opened.evaluate("document.body.dataset.refreshS"))
        opened.clock.run_for(refresh_s * 1000 + 100)
        opened.wait_for_function(f"Number(document.body.dataset.loaded) > {before}")
        opened.uncheck("#auto")
        loads = int(opened.evaluate("document.body.dataset.loaded"))
        opened.clock.run_for(refresh_s * 3000)
        assert int(opened.evaluate("document.body.dataset.loaded")) == loads
    finally:
        context.close()


def test_every_asset_is_served_by_the_app(page: Any, server_url: str) -> None:
    sources = page.evaluate(
        "[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert sources
    assert all(s.startswith(server_url) for s in sources)


def test_a_server_with_keys_asks_for_one_and_keeps_it_for_the_tab(
    browser: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    seed(url, _rows(datetime.now(UTC)))
    key, entry = new_key("dashboard")
    with _serving(url, api_keys=[entry]) as served:
        context = browser.new_context()
        try:
            opened = context.new_page()
            sent: list[str | None] = []
            opened.on(
                "request",
                lambda r: (
                    sent.append(r.headers.get("x-api-key")) if "/integrations/" in r.url else None
                ),
            )
            opened.goto(f"{served}/dashboard")
            opened.wait_for_selector("#key-form:not([hidden])")
            assert "needs an API key" in opened.locator("#key-note").inner_text()
            assert opened.locator("#failure").is_hidden()

            opened.fill("#api-key", "not-the-key")
            opened.click("#key-form button[type=submit]")
            opened.wait_for_function(
                "document.querySelector('#key-note').textContent.includes('refused')"
            )

            opened.fill("#api-key", key)
            opened.click("#key-form button[type=submit]")
            opened.wait_for_selector("body[data-loaded]")
            assert opened.locator("#key-form").is_hidden()
            assert opened.locator("#total-calls").inner_text() == "13"
            assert sent[-1] == key
            assert key not in opened.url

            # A request's detail is fetched with the key and shown as text in the page.
            opened.locator("#errors a.mono").first.click()
            opened.wait_for_function(
                "document.querySelector('#request-body').textContent.includes('request_id')"
            )
            assert opened.locator("#request").is_visible()
            assert opened.url.endswith("/dashboard")
            opened.click("#request button")

            # The key stays for this tab: a reload loads the data without asking again.
            opened.reload()
            opened.wait_for_selector("body[data-loaded]")
            assert opened.locator("#key-form").is_hidden()

            opened.click("#forget-key")
            opened.wait_for_selector("#key-form:not([hidden])")
            assert opened.evaluate("sessionStorage.length") == 0
        finally:
            context.close()
