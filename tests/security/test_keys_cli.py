"""`python -m app keys`: a new key is printed once and its line verifies it; list; revoke."""

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.core.config import get_settings
from app.security.api_keys import ApiKeyEntry, KeyStore, hash_key


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("API_KEYS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _api_keys_from(output: str) -> list[ApiKeyEntry]:
    line = next(line for line in output.splitlines() if line.startswith("API_KEYS="))
    value = shlex.split(line.removeprefix("API_KEYS="))[0]
    return [ApiKeyEntry.model_validate(e) for e in json.loads(value)]


def test_new_prints_the_key_once_with_a_matching_line(capsys: pytest.CaptureFixture[str]) -> None:
    main(["keys", "new", "dashboard", "--providers", "weather,geocoding"])
    out = capsys.readouterr().out
    key = next(w for w in out.split() if w.startswith("fo_"))
    assert len(key) > 40
    assert out.count(key) == 1
    (entry,) = _api_keys_from(out)
    assert entry.sha256 == hash_key(key)
    assert entry.providers == ["weather", "geocoding"]
    principal = KeyStore([entry]).verify(key)
    assert principal is not None and principal.allows("weather")
    assert not principal.allows("stock_quotes")


def test_new_keeps_existing_keys_and_refuses_clashes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keys", "new", "first"])
    monkeypatch.setenv("API_KEYS", capsys.readouterr().out.split("API_KEYS=")[1].strip("'\n"))
    get_settings.cache_clear()
    main(["keys", "new", "second"])
    assert [e.name for e in _api_keys_from(capsys.readouterr().out)] == ["first", "second"]
    with pytest.raises(SystemExit, match="already configured"):
        main(["keys", "new", "first"])
    with pytest.raises(SystemExit, match="unknown provider"):
        main(["keys", "new", "third", "--providers", "weathr"])
    with pytest.raises(SystemExit, match="invalid key name"):
        main(["keys", "new", "no spaces"])


def test_list_and_revoke(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        {"name": "a", "sha256": "a" * 64},
        {"name": "b", "sha256": "b" * 64, "providers": ["weather"]},
    ]
    monkeypatch.setenv("API_KEYS", json.dumps(entries))
    main(["keys", "list"])
    listing = capsys.readouterr().out
    assert "a\tsha256 aaaaaaaaaaaa...\tall providers" in listing
    assert "b\tsha256 bbbbbbbbbbbb...\tweather" in listing
    assert "a" * 64 not in listing
    main(["keys", "revoke", "a"])
    assert [e.name for e in _api_keys_from(capsys.readouterr().out)] == ["b"]
    with pytest.raises(SystemExit, match="no key named 'zz'"):
        main(["keys", "revoke", "zz"])
