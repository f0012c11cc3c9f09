"""Packaging lives in pyproject.toml; this file only adds the optional mypyc build.

    API_FANOUT_MYPYC=1 pip install --no-build-isolation -e .

compiles the resilience policies (`COMPILABLE` in `app/resilience/__init__.py`) to C extensions
beside their sources. It needs a C compiler, and the project's dependencies, mypy included,
already installed: mypyc type-checks the modules against them, hence no build isolation.
Without the variable nothing is compiled. A manifest of the compiled sources' hashes goes with
the extensions; `app.resilience` refuses to import extensions whose source has changed since.
"""

import ast
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ENABLE = "API_FANOUT_MYPYC"
PACKAGE = Path("app/resilience")


def package_constant(name: str) -> Any:
    """A constant of `app/resilience/__init__.py`, read without importing the package (its
    guard may refuse a stale build, which this build is about to replace)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.literal_eval(node.value)
    raise SystemExit(f"app/resilience/__init__.py no longer defines {name}")


def compilable() -> list[str]:
    return list(package_constant("COMPILABLE"))


class BuildExt(build_ext):
    def run(self) -> None:
        super().run()
        if not self.extensions:
            return
        target = Path(self.get_ext_fullpath(f"app.resilience.{compilable()[0]}")).parent
        digests = {
            name: hashlib.sha256((PACKAGE / f"{name}.py").read_bytes()).hexdigest()
            for name in compilable()
        }
        manifest = target / package_constant("MANIFEST")
        manifest.write_text(json.dumps(digests, indent=1) + "\n")


def ext_modules() -> list:
    if os.environ.get(ENABLE) != "1":
        return []
    from mypyc.build import mypycify

    return mypycify([str(PACKAGE / f"{name}.py") for name in compilable()], opt_level="3")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildExt})
