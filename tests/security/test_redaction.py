import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.security import redaction
from app.security.log_redaction import install_log_redaction
from app.security.redaction import REDACTED, Redactor, redact_data, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.test/v1/x", "https://api.test/v1/x"),
        (
            "https://u:p@api.test/x?a=1&b=2",
            "https://[REDACTED]@api.test/x?a=[REDACTED]&b=[REDACTED]",
        ),
        ("http://api.test?token=abc", "http://api.test?token=[REDACTED]"),
        ("http://api.test/p#frag", "http://api.test/p#frag"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_covers_urls_and_credential_pairs() -> None:
    text = (
        "Client error '401' for url 'https://me:hunter2@api.test/v1?api_key=K1&q=x' "
        "Authorization: Bearer tok-999 password=pw-1, cookie=sess-5"
    )
    redacted = redact_text(text)
    for secret in ("hunter2", "K1", "tok-999", "pw-1", "sess-5"):
        assert secret not in redacted
    assert "api.test/v1" in redacted


# --- deny-list, known secrets, data, logs ----------------------------------------------------


@pytest.fixture
def isolated() -> Iterator[None]:
    """`configure` changes the process-wide redactor: put the old one back afterwards."""
    saved = redaction.active()
    yield
    redaction._active = saved


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "X-Api-Key",
        "api_key",
        "apiKey",
        "github_token",
        "X-Auth-Token",
        "PASSWORD",
        "client_secret",
        "Set-Cookie",
        "sessionId",
        "private-key",
        "aws_credentials",
    ],
)
def test_deny_listed_keys_hide_values_at_any_depth(key: str) -> None:
    data = {"outer": [{"inner": {key: "v4lue"}}], "city": "Seoul"}
    assert redact_data(data) == {"outer": [{"inner": {key: REDACTED}}], "city": "Seoul"}
    assert key.lower() in redact_text(f"{key}=v4lue").lower()
    assert "v4lue" not in redact_text(f"{key}=v4lue, {key}: v4lue, '{key}': 'v4lue'")


@pytest.mark.parametrize("key", ["author", "authors", "tokens_used_by", "city", "description"])
def test_ordinary_keys_are_kept(key: str) -> None:
    if key == "tokens_used_by":  # contains "token": over-redaction is the safe side
        assert redact_data({key: 1}) == {key: REDACTED}
    else:
        assert redact_data({key: "v"}) == {key: "v"}


def test_data_without_secrets_is_returned_as_is() -> None:
    data = {"a": [1, 2.5, {"b": "text", "c": None, "when": "2026-01-01T10:00:00Z"}], "ok": True}
    assert redact_data(data) is data
    leaky: dict[str, Any] = {"a": [1, {"password": "x"}], "b": {"c": "d"}}
    out = redact_data(leaky)
    assert out["b"] is leaky["b"]
    assert leaky["a"][1]["password"] == "x"  # copy on write: the input is untouched


def test_none_values_stay_none_even_under_deny_listed_keys() -> None:
    assert redact_data({"token": None}) == {"token": None}


def test_extra_keys_and_known_secrets(isolated: None) -> None:
    redaction.configure(["x_tenant"], ["s3cr3t/v@lue+1"])
    assert redact_data({"X-Tenant": "acme"}) == {"X-Tenant": REDACTED}
    text = "echo s3cr3t/v@lue+1 and s3cr3t%2Fv%40lue%2B1 and s3cr3t%2Fv%40lue%2B1 q=s3cr3t/v@lue+1"
    assert "s3cr3t" not in redact_text(text)
    assert redact_data({"innocent": "got s3cr3t/v@lue+1"}) == {"innocent": f"got {REDACTED}"}
    # Secrets are never forgotten; extra keys are replaced by the next configuration.
    redaction.configure()
    assert "s3cr3t" not in redact_text("s3cr3t/v@lue+1")
    assert redact_data({"X-Tenant": "acme"}) == {"X-Tenant": "acme"}


def test_short_secrets_are_ignored_rather_than_blanking_words(isolated: None) -> None:
    redaction.configure(secrets=["abc"])
    assert redact_text("abc is a word") == "abc is a word"


def test_quoted_values_and_schemes() -> None:
    out = redact_text('{"password": "two words", "token": \'x y\'} Authorization: Basic dXNlcg==')
    assert out == ('{"password": "[REDACTED]", "token": \'[REDACTED]\'} Authorization: [REDACTED]')


def test_redaction_is_idempotent_on_its_own_output() -> None:
    once = redact_text("https://u:p@h/x?token=1&a=2 password=x")
    assert redact_text(once) == once
    assert "]]" not in once


@given(st.text(max_size=80), st.sampled_from(["token", "password", "api-key", "Cookie"]))
def test_a_deny_listed_pair_never_survives(noise: str, key: str) -> None:
    secret = "Zq9" + "".join(c for c in noise if c.isalnum())[:20] + "K7"
    assert secret not in redact_text(f"{noise} {key}={secret} {noise}")
    assert secret not in str(redact_data({key: secret, "n": noise}))


def test_redactor_instances_are_independent() -> None:
    mine = Redactor(["colour"], ["verysecretvalue"])
    assert mine.data({"Colour": "red"}) == {"Colour": REDACTED}
    assert mine.text("verysecretvalue") == REDACTED
    assert redact_data({"Colour": "red"}) == {"Colour": "red"}


def test_log_records_are_redacted_when_created(
    isolated: None, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    redaction.configure(secrets=["log-canary-123"])
    log = logging.getLogger("tests.redaction")
    with caplog.at_level(logging.INFO):
        log.info("calling %s with %s", "https://h/x?key=log-canary-123", {"k": 1})
        log.info("token=%s count=%d", "abc123", 7)
        try:
            raise RuntimeError("failed with Authorization: Bearer log-canary-123")
        except RuntimeError:
            log.exception("boom")
        # uvicorn's access formatter reads `args` positionally: shape and types are kept.
        log.info('%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", "/x?token=zzz", "1.1", 200)
    text = caplog.text
    assert "log-canary-123" not in text and "abc123" not in text and "zzz" not in text
    assert "count=7" in text and "RuntimeError" in text
    args = caplog.records[-1].args
    assert isinstance(args, tuple) and args[-1] == 200
    assert caplog.records[-1].getMessage() == '1.2.3.4 - "GET /x?token=[REDACTED] HTTP/1.1" 200'
