"""`app.main`: importing it builds nothing; `app.main.app` builds the app from the environment."""

import subprocess
import sys
from pathlib import Path

from tests.support.processes import child_env

# Run in a fresh interpreter: this process imported app.main long ago.
IMPORT_THEN_ACCESS = """
import app.main
from fastapi import FastAPI
from app.security.setup import SecurityConfigError
assert "app" not in vars(app.main), "importing app.main built the app"
try:
    built = app.main.app
except SecurityConfigError:
    print("refused")
else:
    assert isinstance(built, FastAPI) and app.main.app is built
    print("built")
"""


def _import_then_access(cwd: Path, **variables: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_THEN_ACCESS],
        cwd=cwd,
        env=child_env(**variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_app_main_reads_no_settings_and_access_builds_from_them(
    tmp_path: Path,
) -> None:
    # Production without client keys refuses to build: the import succeeds, the access does not.
    assert _import_then_access(tmp_path, ENVIRONMENT="production") == "refused"
    assert _import_then_access(tmp_path, ENVIRONMENT="development") == "built"
