"""Every kind of bad provider file stops loading with a message naming the file, the field
and what to fix (and never a value)."""

import json
from pathlib import Path

import pytest

from app.core.config import Settings
from app.integrations.files import ProviderFileError, load_directory
from app.integrations.files.spec import json_schema
from app.integrations.registry import ProviderRegistry, ProviderRegistryError
from app.integrations.secrets import MissingSecretError
from tests.integrations.files.helpers import provider_class

GOOD = 'name: good\nrequest: {url: "https://api.example/v1/{id}"}\nparams: {id: {required: true}}\n'

BAD = {
    "not YAML": (
        "name: x\nrequest: [unclosed\n",
        "not valid YAML at line 3, column 1: expected ',' or ']', but got '<stream end>'",
    ),
    "empty": ("", "the file is empty; write a mapping with name, request, ... at the top"),
    "a list": ("- name: x\n", "the file is a list; write a mapping with name, request, ..."),
    "duplicate key": (
        "name: x\nname: y\nrequest: {url: 'https://a.example/'}\n",
        "not valid YAML at line 2, column 1: key 'name' appears twice; keep one",
    ),
    "missing field": ("name: x\n", "request: is required; add it"),
    "unknown field": (
        "name: x\nrequest: {url: 'https://a.example/', methd: GET}\n",
        "request.methd: is not a known field; remove it (or fix its spelling)",
    ),
    "bad name": (
        "name: Bad-Name\nrequest: {url: 'https://a.example/'}\n",
        "name: String should match pattern '^[a-z][a-z0-9_]{0,49}$'",
    ),
    "bad method": (
        "name: x\nrequest: {url: 'https://a.example/', method: FETCH}\n",
        "request.method: Input should be 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE'",
    ),
    "unknown auth type": (
        "name: x\nrequest: {url: 'https://a.example/'}\nauth: {type: digest}\n",
        "auth: Input tag 'digest' found using 'type' does not match any of the expected tags",
    ),
    "auth field missing": (
        "name: x\nrequest: {url: 'https://a.example/'}\nauth: {type: bearer}\n",
        "auth.bearer.token: is required; add it",
    ),
    "bad param type": (
        "name: x\nrequest: {url: 'https://a.example/'}\nparams: {n: {type: float}}\n",
        "params.n.type: Input should be 'string', 'integer', 'number' or 'boolean'",
    ),
    "not http": ("name: x\nrequest: {url: 'ftp://a.example/'}\n", "request.url: must start with"),
    "placeholder in host": (
        "name: x\nrequest: {url: 'https://{host}.example/'}\nparams: {host: {required: true}}\n",
        "request.url: a {placeholder} may fill path segments only, never the scheme, host or port",
    ),
    "placeholder in URL query": (
        "name: x\nrequest: {url: 'https://a.example/?q={q}'}\nparams: {q: {required: true}}\n",
        "request.url: put query parameters under request.query",
    ),
    "undeclared parameter": (
        "name: x\nrequest: {url: 'https://a.example/', query: {q: '{q}'}}\n",
        "request.query: {q} is not a declared parameter; add params.q",
    ),
    "optional path parameter": (
        "name: x\nrequest: {url: 'https://a.example/{id}'}\nparams: {id: {}}\n",
        "params.id: fills a path segment, so it needs required: true or a default",
    ),
    "GET with a body": (
        "name: x\nrequest: {url: 'https://a.example/', json: {a: 1}}\n",
        "request.json: a GET sends no body; remove it or use another method",
    ),
    "bad select": (
        "name: x\nrequest: {url: 'https://a.example/'}\nresponse: {select: 'a['}\n",
        "response.select: not a valid JMESPath expression",
    ),
    "bad schema": (
        "name: x\nrequest: {url: 'https://a.example/'}\nresponse: {schema: {type: nonsense}}\n",
        "response.schema: not a valid JSON Schema",
    ),
    "unknown policy key": (
        "name: x\nrequest: {url: 'https://a.example/'}\npolicy: {retrys: 2}\n",
        "policy: unknown policy key(s) 'retrys'; valid keys:",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_kind_of_bad_file_is_named(case: str, tmp_path: Path) -> None:
    text, expected = BAD[case]
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ProviderFileError) as caught:
        load_directory(tmp_path)
    problems = caught.value.problems
    assert any(
        problem.startswith(f"{tmp_path / 'bad.yaml'}: {expected}") for problem in problems
    ), problems


def test_a_value_is_never_quoted_back(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "name: x\nrequest: {url: 'https://a.example/', method: hunter2-secret}\n"
    )
    with pytest.raises(ProviderFileError) as caught:
        load_directory(tmp_path)
    assert "hunter2" not in str(caught.value)


def test_every_bad_file_is_reported_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\n")
    (tmp_path / "b.yml").write_text("")
    (tmp_path / "c.yaml").write_text(GOOD.replace("good", "c"))
    (tmp_path / "notes.txt").write_text("not a provider")
    with pytest.raises(ProviderFileError) as caught:
        load_directory(tmp_path)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yml"),
    ]


def test_no_directory_means_no_file_providers(tmp_path: Path) -> None:
    assert load_directory(None) == []
    assert load_directory(tmp_path / "absent") == []


def test_a_file_provider_and_a_code_provider_may_not_share_a_name(tmp_path: Path) -> None:
    (tmp_path / "weather.yaml").write_text(GOOD.replace("good", "weather"))
    with pytest.raises(ProviderRegistryError) as caught:
        ProviderRegistry.load(tmp_path)
    message = str(caught.value)
    assert "duplicate provider name 'weather'" in message
    assert f"file {tmp_path / 'weather.yaml'}" in message
    assert "app.integrations.providers.weather.WeatherProvider" in message


def test_file_and_code_providers_share_one_registry(tmp_path: Path) -> None:
    provider_class(tmp_path, GOOD)
    names = ProviderRegistry.load(tmp_path).names
    assert "good" in names and "weather" in names and len(names) == 21


def test_the_published_schema_is_the_format(tmp_path: Path) -> None:
    published = Path(__file__).parents[3] / "providers" / "provider.schema.json"
    assert json.loads(published.read_text()) == json_schema()


def test_short_values_are_fine_outside_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORT_USER", "bob")
    monkeypatch.setenv("SHORT_PW", "pw")
    cls = provider_class(
        tmp_path,
        "name: short\nrequest: {url: 'https://a.example/'}\n"
        "auth: {type: basic, username: '${SHORT_USER}', password: '${SHORT_PW}'}\n",
    )
    with pytest.raises(MissingSecretError, match=r"auth\.password: environment variable SHORT_PW"):
        cls.preflight(Settings(_env_file=None))
    monkeypatch.setenv("SHORT_PW", "a-long-enough-password")
    cls.preflight(Settings(_env_file=None))  # the short user name is not a secret
