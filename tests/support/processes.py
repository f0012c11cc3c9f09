"""Child Python processes that run this checkout's code under the tests' clean environment."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(**variables: str) -> dict[str, str]:
    """The tests' environment (settings variables already dropped), `variables` on top, and
    this checkout first on the child's path: the venv's editable install may point at another
    checkout (a git worktree's tests would otherwise run the main tree's `app`)."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, **variables, "PYTHONPATH": os.pathsep.join(path)}
