"""`python -m app providers list | new | check | schema`, on a directory of the test's own."""

import json
import py_compile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app.cli import main
from app.cli.scaffold import write_code_provider
from app.core.config import get_settings
from app.integrations.files import json_schema, load_file
from app.simulator import secured


@pytest.fixture
def providers_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "providers"
    directory.mkdir()
    monkeypatch.setenv("PROVIDERS_DIR", str(directory))
    monkeypatch.setenv("DEMO_PROVIDERS_ENABLED", "true")
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


def test_schema_prints_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    main(["providers", "schema"])
    assert json.loads(capsys.readouterr().out) == json_schema()


@pytest.mark.parametrize(
    "auth", ["none", "api_key", "bearer", "basic", "oauth2_client_credentials"]
)
def test_new_writes_a_file_that_loads(
    providers_dir: Path, auth: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["providers", "new", "my_api", "--url", "https://api.example/v1", "--auth", auth])
    path = providers_dir / "my_api.yaml"
    assert capsys.readouterr().out == f"wrote {path}\n"
    cls = load_file(path)
    assert (cls.name, cls.spec.auth.type) == ("my_api", auth)
    with pytest.raises(SystemExit, match="exists; pick another name"):
        main(["providers", "new", "my_api", "--url", "https://api.example/v1"])


def test_new_with_code_writes_a_module_and_its_contract_test(tmp_path: Path) -> None:
    module, test = write_code_provider(
        "my_api", "https://api.example/v1", "GET", "bearer", tmp_path
    )
    py_compile.compile(str(module), doraise=True)
    py_compile.compile(str(test), doraise=True)
    assert 'secrets = {"token": "MY_API_TOKEN"}' in module.read_text()
    assert "ProviderContract" in test.read_text()


def test_list_names_kind_auth_method_and_url_without_secrets(
    providers_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIST_TOKEN", "list-secret-value-1")
    (providers_dir / "listed.yaml").write_text(
        "name: listed\nrequest: {method: POST, url: 'https://api.example/{id}'}\n"
        "params: {id: {required: true}}\nauth: {type: bearer, token: '${LIST_TOKEN}'}\n"
    )
    main(["providers", "list"])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("listed "))
    assert line.split() == ["listed", "file", "bearer", "POST", "https://api.example/{id}"]
    assert "weather" in out and "list-secret-value-1" not in out


def test_check_fails_on_a_missing_secret_and_passes_live_once_it_is_set(
    providers_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHECK_KEY", raising=False)
    spec = {
        "name": "checked",
        "request": {"url": "${DEMO_UPSTREAM_URL}/auth/api-key"},
        "auth": {"type": "api_key", "in": "header", "name": "X-Api-Key", "value": "${CHECK_KEY}"},
        "response": {"schema": {"type": "object", "required": ["authenticated"]}},
    }
    (providers_dir / "checked.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit, match="1 problem"):
        main(["providers", "check", "checked"])
    assert "environment variable CHECK_KEY is not set" in capsys.readouterr().out
    monkeypatch.setenv("CHECK_KEY", secured.API_KEY)
    main(["providers", "check", "checked", "--live"])
    out = capsys.readouterr().out
    assert "live  checked: status 200" in out and "schema matches: True" in out
    monkeypatch.setenv("CHECK_KEY", "a-wrong-key-123")
    with pytest.raises(SystemExit, match="1 problem"):
        main(["providers", "check", "checked", "--live"])
    assert "FAIL  checked: status 401" in capsys.readouterr().out


def test_check_exits_non_zero_on_a_bad_file(
    providers_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (providers_dir / "bad.yaml").write_text("name: bad\n")
    with pytest.raises(SystemExit, match="request: is required"):
        main(["providers", "check"])
