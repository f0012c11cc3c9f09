"""Provider secrets: environment variables and files, resolved at start-up, redacted."""

from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from app.http import HttpClient
from app.integrations import secrets
from app.integrations.base import BaseApiProvider, Params
from app.security.redaction import REDACTED, redact_text


class _Github(BaseApiProvider):
    name = "github_like"
    secrets = {"token": "GITHUB_LIKE_TOKEN"}

    @property
    def endpoint(self) -> str:
        return "https://api.example/"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return {}


def test_a_code_provider_reads_its_declared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_LIKE_TOKEN", "ghp-secret-123456")
    provider = _Github(Settings(_env_file=None))
    assert provider.secret("token") == "ghp-secret-123456"
    assert redact_text("leaked ghp-secret-123456") == f"leaked {REDACTED}"


def test_a_missing_secret_names_the_provider_and_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_LIKE_TOKEN", raising=False)
    with pytest.raises(secrets.MissingSecretError) as caught:
        _Github.preflight(Settings(_env_file=None))
    assert str(caught.value) == (
        "provider 'github_like' needs secret 'token': environment variable GITHUB_LIKE_TOKEN "
        "is not set"
    )


def test_file_secrets_drop_one_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("file-secret-4242\n")
    assert secrets.resolve(f"file:{path}") == "file-secret-4242"
    assert secrets.expand(f"Bearer ${{file:{path}}}") == "Bearer file-secret-4242"
    assert redact_text("x file-secret-4242") == f"x {REDACTED}"


@pytest.mark.parametrize(
    ("reference", "environ", "message"),
    [
        ("file:/nonexistent/secret", {}, "cannot read secret file /nonexistent/secret"),
        ("SHORT", {"SHORT": "abc"}, "environment variable SHORT is shorter than 6 characters"),
        ("not a name", {}, "'not a name' is not an environment variable name nor file:/path"),
    ],
)
def test_unusable_references(reference: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(secrets.MissingSecretError, match=message):
        secrets.resolve(reference, environ)


def test_a_literal_dollar_brace_is_written_doubled() -> None:
    assert secrets.expand("price $${amount}") == "price ${amount}"
