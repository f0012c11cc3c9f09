"""Credentials recognised by shape (`Bearer x`, `Basic base64`) and secrets registered late."""

import base64

import pytest

from app.security import redaction
from app.security.redaction import REDACTED, Redactor


@pytest.mark.parametrize(
    "text",
    [
        "upstream answered HTTP 401 Unauthorized Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",
        "bearer abcdefghijklmnopqrstuvwx",
        "BEARER tok_12345678",
        "Basic " + base64.b64encode(b"alice:wonderland").decode(),
        "got Basic " + base64.b64encode(b"u:p").decode() + " back",
    ],
)
def test_credentials_are_redacted_by_shape(text: str) -> None:
    redacted = Redactor().text(text)
    assert REDACTED in redacted
    credential = text.split()[-1] if "back" not in text else text.split()[-2]
    assert credential not in redacted


@pytest.mark.parametrize(
    "text",
    ["Bearer authentication failed", "the basic plan", "Basic information is missing"],
)
def test_ordinary_words_after_bearer_or_basic_stay(text: str) -> None:
    assert Redactor().text(text) == text


def test_json_data_is_screened_for_shapes_too() -> None:
    data = {"note": "sent Bearer abcdefghijklmnopqrstuvwx", "n": 1}
    assert Redactor().data(data) == {"note": f"sent Bearer {REDACTED}", "n": 1}


def test_registered_secrets_are_added_to_the_active_redactor() -> None:
    redaction.register_secrets(["late-secret-value-91", "short"])
    assert redaction.redact_text("x late-secret-value-91 y") == f"x {REDACTED} y"
    assert "short" not in redaction.active().secrets
