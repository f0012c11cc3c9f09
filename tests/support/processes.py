"""Child Python processes that run this checkout's code under the tests' clean environment."""

import os
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def child_env(**variables: str) -> dict[str, str]:
    """The tests' environment (settings variables already dropped), `variables` on top, and
    this checkout first on the child's path: the venv's editable install may point at another
    checkout (a git worktree's tests would otherwise run the main tree's `app`). A child run in
    the checkout loads no provider files (the examples in providers/) unless asked to."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PROVIDERS_DIR": "", **variables, "PYTHONPATH": os.pathsep.join(path)}


def answers_health(base: str) -> bool:
    """Whether a service at `base` answers `/healthz` with 200 yet (refused: not yet)."""
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.TransportError:
        return False
