"""The optional mypyc build: extensions built from other source than beside them are refused."""

import hashlib
import importlib.machinery
import json
from pathlib import Path

import pytest

from app.resilience import COMPILABLE, MANIFEST, refuse_stale_extensions

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def built_package(tmp_path: Path, source: str = "x = 1\n") -> Path:
    """A package dir as setup.py leaves it: runner.py, its extension, the manifest."""
    (tmp_path / "runner.py").write_text(source)
    (tmp_path / f"runner{SUFFIX}").write_bytes(b"")
    digest = hashlib.sha256(source.encode()).hexdigest()
    (tmp_path / MANIFEST).write_text(json.dumps({"runner": digest}))
    return tmp_path


def test_an_extension_built_from_the_source_beside_it_loads(tmp_path: Path) -> None:
    refuse_stale_extensions(built_package(tmp_path))


def test_an_extension_whose_source_changed_since_is_refused(tmp_path: Path) -> None:
    package = built_package(tmp_path)
    (package / "runner.py").write_text("x = 2\n")
    with pytest.raises(ImportError, match=r"runner\.py changed after the mypyc build"):
        refuse_stale_extensions(package)


def test_a_changed_source_without_its_extension_runs_as_python(tmp_path: Path) -> None:
    package = built_package(tmp_path)
    (package / f"runner{SUFFIX}").unlink()
    (package / "runner.py").write_text("x = 2\n")
    refuse_stale_extensions(package)


def test_a_source_checkout_has_every_compilable_module() -> None:
    package = Path(__file__).resolve().parents[2] / "app" / "resilience"
    assert all((package / f"{name}.py").exists() for name in COMPILABLE)
