"""`app.main`: importing it builds nothing; `app.main.app` builds the app from the environment."""

import subprocess
import sys
from pathlib import Path

from tests.support.processes import child_env

IMPORT_ONLY = """
import app.main
assert "app" not in vars(app.main), "importing app.main built the app"
print("imported")
"""

ACCESS = """
import app.main
from fastapi import FastAPI
from app.security.setup import SecurityConfigError
try:
    built = app.main.app
except SecurityConfigError:
    print("refused")
else:
    assert isinstance(built, FastAPI) and app.main.app is built
    print("built")
"""


def _python(code: str, cwd: Path, **variables: str) -> str:
    # A fresh interpreter: this process imported app.main long ago.
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=child_env(**variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_app_main_reads_no_settings(tmp_path: Path) -> None:
    # Production without client keys refuses to build: importing must not try.
    assert _python(IMPORT_ONLY, tmp_path, ENVIRONMENT="production") == "imported"


def test_app_main_app_is_built_from_the_environment_on_access(tmp_path: Path) -> None:
    assert _python(ACCESS, tmp_path, ENVIRONMENT="production") == "refused"
    assert _python(ACCESS, tmp_path, ENVIRONMENT="development") == "built"
