"""What `docs/http-client.md` promises about the environment, on both paths of `fetch_json`.

A private CA is trusted through `SSL_CERT_FILE`; `HTTP_PROXY`/`HTTPS_PROXY` are not honoured;
a Brotli body is not decoded; same-origin redirects stop after 5 hops.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme

from app.core.errors import ErrorKind
from app.http.body import MAX_REDIRECTS
from app.http.client import HttpClient
from tests.http.test_edges import PATHS, RawProvider, RawServer, call, client, make_client, server

__all__ = ["client", "server"]

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"a": 1}'

# Run in a process of its own: the environment is read when a TLS context is made, and
# aiohttp makes its default one when it is imported.
_TLS_CHILD = """
import asyncio, json, ssl, sys
from tests.http.test_edges import PATHS, RawProvider, RawServer, make_client

async def main() -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[1])
    seen = {}
    async with RawServer(tls) as server:
        server.answers["/tls"] = sys.argv[2].encode("latin-1")
        for path in PATHS:
            async with make_client(path) as client:
                result = await RawProvider(server.url + "/tls").execute(client, {}, request_id="r")
            seen[path] = [result.error_kind, result.data, result.error_message]
    print(json.dumps(seen))

asyncio.run(main())
"""


def _run_tls_child(tmp_path: Path, trust: bool) -> dict[str, Any]:
    ca = trustme.CA()
    cert = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    if trust:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        env["SSL_CERT_FILE"] = str(ca_file)
    done = subprocess.run(
        [sys.executable, "-c", _TLS_CHILD, str(cert), OK.decode("latin-1")],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_a_private_ca_is_trusted_through_ssl_cert_file_on_both_paths(tmp_path: Path) -> None:
    trusted = _run_tls_child(tmp_path, trust=True)
    assert trusted == {"direct": [None, {"a": 1}, None], "httpx": [None, {"a": 1}, None]}
    untrusted = _run_tls_child(tmp_path, trust=False)
    for kind, data, message in untrusted.values():
        assert (kind, data) == (ErrorKind.CONNECTION_ERROR, None)
        assert "CERTIFICATE_VERIFY_FAILED" in message


@pytest.mark.parametrize("path", PATHS)
async def test_proxy_variables_are_not_honoured(
    server: RawServer, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    async with RawServer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with make_client(path) as client:  # built with the variables set, as at start
            result = await call(server, client, "/direct", OK)
        assert (result.success, result.data) == (True, {"a": 1}), result.error_message
        assert proxy.connections == 0
        assert server.requests["/direct"] == 1


async def test_a_brotli_body_is_not_decoded(server: RawServer, client: HttpClient) -> None:
    body = b"\x8b\x03\x80{}\x03"  # labelled br: httpx has no Brotli decoder here
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: br\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    result = await call(server, client, "/br", answer)
    assert result.error_kind is ErrorKind.INVALID_JSON
    assert result.error_message is not None
    assert result.error_message.startswith("body is not valid JSON")


async def test_same_origin_redirects_stop_after_five_hops(
    server: RawServer, client: HttpClient
) -> None:
    server.answers["/ok"] = OK
    hop = b"HTTP/1.1 302 Found\r\nLocation: /hop\r\nContent-Length: 0\r\n\r\n"
    result = await call(server, client, "/hop", hop, follow_redirects="same_origin")
    assert (result.error_kind, result.status_code) == (ErrorKind.HTTP_STATUS, 302)
    assert server.requests["/hop"] == MAX_REDIRECTS + 1 == 6
    provider = RawProvider(server.url + "/five", follow_redirects="same_origin")
    server.answers["/five"] = b"HTTP/1.1 302 Found\r\nLocation: /hop2\r\nContent-Length: 0\r\n\r\n"
    server.answers["/hop2"] = lambda n: hop.replace(b"/hop", b"/hop2") if n < 5 else OK
    result = await provider.execute(client, {}, request_id="r")
    assert (result.success, result.data) == (True, {"a": 1})  # the fifth hop is followed
