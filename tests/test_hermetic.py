"""The suite does not depend on what surrounds it: settings variables in the shell, a `.env` in
the directory pytest starts from."""

import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT, child_env


def test_settings_from_the_shell_or_a_dot_env_change_no_outcome(tmp_path: Path) -> None:
    # A 10-byte body cap fails any contract test that reads it: from the shell here, and from
    # a `.env` in the directory pytest starts from (the contract's settings read `.env`).
    poison = {"POLICY_MAX_RESPONSE_BYTES": "10", "ENVIRONMENT": "production"}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in poison.items()))
    target = ROOT / "tests" / "integrations" / "providers" / "test_demo_providers.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{target}::TestWeather"],
        cwd=tmp_path,
        env=child_env(**poison),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
