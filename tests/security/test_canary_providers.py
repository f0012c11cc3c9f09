"""Canary for the provider secrets: environment and file secrets, an OAuth2 client secret and
the tokens it buys, URL userinfo, and a bearer an upstream reflects in its status line.

File providers send them to a real loopback upstream that echoes everything back (in bodies,
headers and the status line's reason phrase). Then every response, log line, database row
(SQLite and PostgreSQL) and file the service wrote is searched: zero occurrences.
"""

import base64
import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.main import create_app
from tests.conftest import make_settings
from tests.security.helpers import LOOPBACK, serve
from tests.security.test_canary import _all_rows, _call_log_rows, _written_files
from tests.support.polling import poll
from tests.support.providers import with_files
from tests.support.servers import Answer, Raw, ScriptedServer, Seen

ENV_KEY = "envkey-CANARY-1a2b3c4d"
FILE_TOKEN = "filetok-CANARY-4d5e6f7a"
CLIENT_SECRET = "client-CANARY-7a8b9c0d"
USERINFO_PW = "upw-CANARY-3c4d5e6f"
ACCESS = "access-CANARY-"  # + a counter: every token the endpoint hands out
_tokens = itertools.count(1)
SECRETS = (
    ENV_KEY,
    FILE_TOKEN,
    CLIENT_SECRET,
    USERINFO_PW,
    ACCESS,
    base64.b64encode(f"demo-client:{CLIENT_SECRET}".encode()).decode(),
    base64.b64encode(f"user:{USERINFO_PW}".encode()).decode(),
)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _script(seen: Seen) -> Answer | Raw:
    path = seen.target.split("?")[0]
    if path == "/token":
        token = {"access_token": f"{ACCESS}{next(_tokens)}", "expires_in": 3600}
        return Answer(200, json.dumps(token).encode())
    echo = {
        "headers": seen.headers,
        "target": seen.target,
        "body": seen.body.decode(),
        "innocent": seen.headers.get("authorization", ""),
    }
    body = json.dumps(echo).encode()
    if path == "/reflect":
        # A server that puts the Authorization header it got into its status line.
        status = f"HTTP/1.1 401 Unauthorized {seen.headers.get('authorization')}\r\n"
        head = f"{status}content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        return Raw(head.encode() + body)
    return Answer(200, body)


PROVIDERS = {
    "env_key": "request: {{url: '{base}/ok'}}\n"
    "auth: {{type: api_key, in: query, name: key, value: '${{CANARY_ENV_KEY}}'}}\n",
    "file_token": "request: {{url: '{base}/ok', headers: {{X-Token: '${{file:{file}}}'}}}}\n",
    "oauth": "request: {{url: '{base}/ok'}}\n"
    "auth: {{type: oauth2_client_credentials, token_url: '{base}/token', "
    "client_id: demo-client, client_secret: '${{CANARY_CLIENT_SECRET}}'}}\n",
    "oauth_reflected": "request: {{url: '{base}/reflect'}}\n"
    "auth: {{type: oauth2_client_credentials, token_url: '{base}/token', "
    "client_id: demo-client, client_secret: '${{CANARY_CLIENT_SECRET}}', client_auth: body}}\n",
    "userinfo": "request: {{url: 'http://user:${{CANARY_USERINFO}}@{host}/ok', "
    "method: POST, json: {{password: '${{CANARY_USERINFO}}'}}}}\n",
}


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(_script) as server:
        yield server


async def test_no_provider_secret_in_any_response_log_line_row_or_file(
    database_url: str,
    upstream: ScriptedServer,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_file = tmp_path_factory.mktemp("mounted") / "token"  # outside what the app writes
    secret_file.write_text(FILE_TOKEN + "\n")
    monkeypatch.setenv("CANARY_ENV_KEY", ENV_KEY)
    monkeypatch.setenv("CANARY_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("CANARY_USERINFO", USERINFO_PW)
    providers = tmp_path / "providers"
    providers.mkdir()
    host = upstream.url.removeprefix("http://")
    for name, body in PROVIDERS.items():
        text = f"name: {name}\n" + body.format(base=upstream.url, host=host, file=secret_file)
        (providers / f"{name}.yaml").write_text(text)
    settings = make_settings(
        database_url,
        demo_providers_enabled=False,
        log_spool_dir=tmp_path / "spool",
        policy_retries=0,
    )
    app = create_app(settings, registry=with_files(providers, demo=False))

    async def stored() -> bool:
        return _call_log_rows(database_url) >= 2 * len(PROVIDERS)

    async with serve(app, LOOPBACK) as http:
        responses = [
            await http.get("/integrations/fetch"),
            await http.post("/integrations/fetch", json={}),
        ]
        await poll(stored)
        request_id = responses[0].json()["request_id"]
        for route in ("/integrations/providers", "/integrations/logs", "/integrations/stats"):
            responses.append(await http.get(route))
        responses.append(await http.get(f"/integrations/requests/{request_id}"))
        responses.append(await http.get("/metrics"))

    results = {r["provider"]: r for r in responses[0].json()["results"]}
    assert {name: r["success"] for name, r in results.items()} == {
        **dict.fromkeys(PROVIDERS, True),
        "oauth_reflected": False,
    }
    assert results["oauth_reflected"]["status_code"] == 401
    # The secrets really went out, each its way.
    sent = "\n".join(f"{s.target} {s.headers} {s.body!r}" for s in upstream.seen)
    assert all(secret in sent for secret in SECRETS), [s for s in SECRETS if s not in sent]
    assert "Unauthorized Bearer" in results["oauth_reflected"]["error_message"]

    for response in responses:
        assert response.status_code == 200, (response.url, response.status_code)
        assert not _leaks(response.text + repr(response.headers.raw)), response.url
    lines = [caplog.handler.format(record) for record in caplog.records]
    assert lines and not _leaks("\n".join(lines))
    assert not _leaks(_all_rows(database_url))
    written = _written_files(tmp_path)
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        assert any(path.suffix == ".db" for path in written)
    for path, content in written.items():
        assert not _leaks(content), path
