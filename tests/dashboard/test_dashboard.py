"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on a real server."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.observability.seeding import NOW, call, percentile_cont, seed
from tests.security.helpers import new_key
from tests.support.browser import launched_chromium, require_chromium, serving

XSS = '<img src=x onerror="document.body.dataset.pwned=1">'
WEATHER_MS = [12.0, 15.0, 18.0, 22.0, 30.0, 41.0, 55.0, 80.0, 120.0, 300.0]
# What upstreams really answer: longer than any column should grow for it.
LONG_ERROR = (
    "upstream answered HTTP 502: Bad Gateway; the body was the load balancer's HTML error page, "
    "which said the backend pool had no healthy members and the request should be retried later"
)


def _ago(now: datetime, seconds: float) -> float:
    """`seeding.call`'s `ago_s` for a row `seconds` before `now` (it counts back from NOW)."""
    return seconds + (NOW - now).total_seconds()


def _rows(now: datetime) -> list[dict[str, Any]]:
    def at(ago_s: float) -> float:
        return _ago(now, ago_s)

    rows = [call("weather", ms, ago_s=at(300 + 20 * i)) for i, ms in enumerate(WEATHER_MS)]
    rows += [
        call("weather", 900.0, ago_s=at(120), kind="timeout", status=None, message="no answer"),
        call("stock_quotes", 25.0, ago_s=at(600)),
        call("stock_quotes", 35.0, ago_s=at(200), kind="http_status", status=503, message=XSS),
    ]
    return rows


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'calls.db'}"
    seed(url, _rows(datetime.now(UTC)))
    with serving(url) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


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
    with serving(url, api_keys=[entry]) as served:
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


@pytest.fixture(scope="module")
def busy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seeded rows, plus geocoding at 93.0% (40 of 43) whose last error is long."""
    require_chromium()
    now = datetime.now(UTC)
    rows = _rows(now)
    rows += [call("geocoding", 20.0, ago_s=_ago(now, 60 + i)) for i in range(40)]
    rows += [
        call("geocoding", 30.0, ago_s=_ago(now, 150 + i), kind="timeout", status=None)
        for i in range(2)
    ]
    rows.append(
        call(
            "geocoding",
            40.0,
            ago_s=_ago(now, 30),
            kind="http_status",
            status=502,
            message=LONG_ERROR,
        )
    )
    url = f"sqlite:///{tmp_path_factory.mktemp('busy') / 'calls.db'}"
    seed(url, rows)
    with serving(url) as served:
        yield served


def _open(browser: Any, url: str, width: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    opened = context.new_page()
    opened.goto(url)
    opened.wait_for_selector("body[data-loaded]")
    return context, opened


@pytest.mark.parametrize("width", [1400, 800])
def test_tables_fit_the_page_without_sideways_scroll(
    browser: Any, busy_url: str, width: int
) -> None:
    context, opened = _open(browser, f"{busy_url}/dashboard?window=1h", width)
    try:
        overflowing = opened.evaluate(
            """[document.documentElement, ...document.querySelectorAll('.scroll')]
                .filter(e => e.scrollWidth > e.clientWidth)
                .map(e => `${e.className || e.tagName}: ${e.scrollWidth} > ${e.clientWidth}`)"""
        )
        assert overflowing == []
        row = opened.locator('#providers tr[data-provider="geocoding"]')
        message = row.locator("td.last-error .message")
        # Cut to fit, the whole text a hover away; the kind and the age stay in view.
        assert message.get_attribute("title") == LONG_ERROR
        assert message.evaluate(
            "e => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight"
        )
        cell = row.locator("td.last-error").bounding_box()
        for part in ("kind", "when"):
            box = row.locator(f"td.last-error .{part}").bounding_box()
            assert cell["x"] <= box["x"] and box["x"] + box["width"] <= cell["x"] + cell["width"]
    finally:
        context.close()


def test_success_rates_are_coloured_by_the_documented_thresholds(
    browser: Any, busy_url: str
) -> None:
    context, opened = _open(browser, f"{busy_url}/dashboard?window=1h", 1400)
    try:
        success = opened.locator('#providers tr[data-provider="geocoding"] td.success')
        assert success.inner_text() == "93.0%"
        assert "rate-warn" in (success.get_attribute("class") or "")
        weather = opened.locator('#providers tr[data-provider="weather"] td.success')
        assert "rate-warn" in (weather.get_attribute("class") or "")  # 90.9%
        stock = opened.locator('#providers tr[data-provider="stock_quotes"] td.success')
        assert "rate-bad" in (stock.get_attribute("class") or "")  # 50.0%
        # docs/dashboard.md: green from 99%, amber from 90%, red below, on the rate as shown.
        cases = {1: "good", 0.99: "good", 0.98951: "good", 0.9894: "warn", 0.93: "warn"}
        cases |= {0.9: "warn", 0.8996: "warn", 0.8994: "bad", 0: "bad"}
        for rate, colour in cases.items():
            assert opened.evaluate(f"rateClass({rate})") == f"rate-{colour}", rate
    finally:
        context.close()


def test_opens_on_the_smallest_window_that_holds_the_data(browser: Any, server_url: str) -> None:
    # The seeded calls are 2 to 10 minutes old: 15 minutes holds them all.
    context, opened = _open(browser, f"{server_url}/dashboard", 1280)
    try:
        assert opened.locator("#window").input_value() == "15m"
        assert "(15 s buckets" in opened.locator("#bucket").inner_text()
        assert (
            sum(
                int(c)
                for c in opened.locator("#chart g.bucket").evaluate_all(
                    "gs => gs.map(g => g.dataset.calls)"
                )
            )
            == 13
        )
        assert "window=" not in opened.url  # a choice, not a setting: reloads choose again
    finally:
        context.close()


@pytest.mark.parametrize(
    ("oldest_s", "expected"), [(3 * 3600, "6h"), (6 * 86400, "7d"), (9 * 86400, "15m")]
)
def test_the_initial_window_grows_with_the_age_of_the_data(
    browser: Any, tmp_path: Path, oldest_s: int, expected: str
) -> None:
    now = datetime.now(UTC)
    # Recent calls, and one `oldest_s` old; one older than 7 days is in no window, so the
    # recent ones alone decide.
    rows = [call("weather", 20.0, ago_s=_ago(now, 60 + i)) for i in range(3)]
    rows.append(call("weather", 20.0, ago_s=_ago(now, oldest_s)))
    url = f"sqlite:///{tmp_path / 'older.db'}"
    seed(url, rows)
    with serving(url) as served:
        context, opened = _open(browser, f"{served}/dashboard", 1280)
        try:
            assert opened.locator("#window").input_value() == expected
        finally:
            context.close()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_failed_call_links_to_its_trace_through_the_template(
    browser: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    traced = call(
        "weather", 40.0, ago_s=_ago(now, 30), kind="timeout", status=None, request_id="req-t"
    )
    traced["trace_id"] = TRACE_ID
    untraced = call("geocoding", 40.0, ago_s=_ago(now, 40), kind="timeout", status=None)
    untraced["trace_id"] = None
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    seed(url, [traced, untraced])
    template = "http://jaeger.example:16686/trace/{trace_id}?uiFind=x&a=1"
    with serving(url, trace_url_template=template) as served:
        context, opened = _open(browser, f"{served}/dashboard?window=1h", 1280)
        try:
            links = opened.locator("#errors a.trace")
            assert links.count() == 1  # the call stored without a trace id gets none
            href = links.first.get_attribute("href")
            assert href == template.replace("{trace_id}", TRACE_ID)
            row = links.first.locator("xpath=ancestor::tr")
            assert "weather" in row.inner_text()
        finally:
            context.close()
    with serving(url) as served:  # no template: no link
        context, opened = _open(browser, f"{served}/dashboard?window=1h", 1280)
        try:
            assert opened.locator("#errors tbody tr").count() == 2
            assert opened.locator("#errors a.trace").count() == 0
        finally:
            context.close()
