"""Browser tests: Debian's Chromium driven by Playwright (never a downloaded browser), the app
served by a real uvicorn on a loopback port, and a guard that keeps the browser off the network.
"""

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from app.main import create_app
from tests.conftest import make_settings
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
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def launched_chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serving(database_url: str, **overrides: Any) -> Iterator[str]:
    """The app on a free loopback port, its demo providers pointed at a closed port."""
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


def loopback_only(context: Any) -> list[str]:
    """Abort every request of `context` that leaves the machine; the list fills with them.

    A page that needs a CDN then breaks in the test as it would offline, and the list names
    what it tried to load.
    """
    blocked: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOOPBACK_HOSTS:
            r.continue_()
        else:
            blocked.append(url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    return blocked
