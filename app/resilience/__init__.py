"""Per-provider resilience policies: deadlines, retries, breakers, quotas, bulkheads, fallbacks.

`ProviderPolicy` (policy.py) says what applies to a provider; `PolicyRunner` (runner.py) applies
it around every call of `BaseApiProvider.execute`. Each policy is a small module of its own with
an injectable clock (clock.py), so tests drive them without real sleeps.

The modules in `COMPILABLE` run around every upstream call. A checkout installed with
`API_FANOUT_MYPYC=1` (`setup.py`) has them compiled to C extensions by mypyc, beside their
sources, which takes more than half off what the policies cost a call (`bench/README.md`).
`compiled()` says which this process runs. Extensions whose source changed after they were
built would run the old code, so importing this package refuses them.
"""

import hashlib
import importlib.machinery
import json
from pathlib import Path

COMPILABLE = ("breaker", "bulkhead", "deadline", "fallback", "rate_limit", "retry", "runner")
MANIFEST = "_compiled_sources.json"  # written by setup.py beside the extensions
_PACKAGE = Path(__file__).resolve().parent


def compiled() -> bool:
    """True when every module of `COMPILABLE` has an extension this interpreter loads first."""
    return all(_has_extension(_PACKAGE, name) for name in COMPILABLE)


def refuse_stale_extensions(package: Path) -> None:
    """Raise ImportError if an extension in `package` was built from other source than beside it."""
    manifest = package / MANIFEST
    if not manifest.exists():
        return
    built_from: dict[str, str] = json.loads(manifest.read_text())
    stale = [
        name
        for name, digest in built_from.items()
        if _has_extension(package, name)
        and hashlib.sha256((package / f"{name}.py").read_bytes()).hexdigest() != digest
    ]
    if stale:
        raise ImportError(
            f"app/resilience: {', '.join(f'{n}.py' for n in stale)} changed after the mypyc "
            "build, which would run the old code instead. Rebuild with `API_FANOUT_MYPYC=1 pip "
            "install --no-build-isolation -e .`, or delete app/resilience/*.so to run the source"
        )


def _has_extension(package: Path, name: str) -> bool:
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return any((package / f"{name}{suffix}").exists() for suffix in suffixes)


refuse_stale_extensions(_PACKAGE)
