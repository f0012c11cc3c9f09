"""Find providers by importing every module of a package; refuse duplicate names.

Adding a provider is adding a module: whatever concrete `BaseApiProvider` subclass a module
of the package defines is registered. Abstract classes (and names starting with `_`) are
skipped, and so are modules whose name starts with `_`: they hold shared helpers. Providers
declared in files (`PROVIDERS_DIR`, `app.integrations.files`) join them in one namespace.
"""

import difflib
import importlib
import inspect
import logging
import pkgutil
import re
from collections.abc import Iterable
from pathlib import Path

from app.core.config import Settings
from app.integrations.base import BaseApiProvider
from app.integrations.files import load_directory
from app.integrations.secrets import MissingSecretError

logger = logging.getLogger(__name__)
PROVIDERS_PACKAGE = "app.integrations.providers"
_VALID_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# The one class attribute the policy is built from (`BaseApiProvider.__init__`).
POLICY_ATTRIBUTE = "policy_overrides"


class ProviderRegistryError(RuntimeError):
    """The provider set is broken; raised at start-up, never per request."""


def discover(package: str = PROVIDERS_PACKAGE) -> list[type[BaseApiProvider]]:
    """Import every module under `package` and return the concrete providers they define."""
    root = importlib.import_module(package)
    found: list[type[BaseApiProvider]] = []
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseApiProvider)
                and obj.__module__ == module.__name__
                and not inspect.isabstract(obj)
                and not obj.__name__.startswith("_")
            ):
                found.append(obj)
    return found


def _looks_like_policy(attribute: str) -> bool:
    plain = attribute.lower().strip("_")
    return (
        "polic" in plain
        or plain in ("override", "overrides")
        or difflib.SequenceMatcher(None, plain, POLICY_ATTRIBUTE).ratio() >= 0.8
    )


def unread_policy_attribute(cls: type[BaseApiProvider]) -> str | None:
    """An attribute of `cls` (or of its own bases) that looks like a policy but is not read.

    A misspelt `policy_overrides`, or `policy` (which `__init__` overwrites with the built
    policy), would otherwise leave the provider on the defaults without a word.
    """
    for klass in cls.__mro__:
        if not issubclass(klass, BaseApiProvider) or klass is BaseApiProvider:
            continue
        for attribute in vars(klass):
            dunder = attribute.startswith("__")
            if attribute != POLICY_ATTRIBUTE and not dunder and _looks_like_policy(attribute):
                return attribute
    return None


class ProviderRegistry:
    """The provider classes the app serves, in a stable (name) order."""

    def __init__(self, classes: Iterable[type[BaseApiProvider]]) -> None:
        by_name: dict[str, type[BaseApiProvider]] = {}
        for cls in classes:
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not _VALID_NAME.match(name):
                raise ProviderRegistryError(
                    f"{cls.__module__}.{cls.__qualname__} needs a `name` of lowercase letters, "
                    f"digits and underscores (at most 50), got {name!r}"
                )
            stray = unread_policy_attribute(cls)
            if stray is not None:
                raise ProviderRegistryError(
                    f"{cls.__module__}.{cls.__qualname__} defines `{stray}`, which nothing "
                    f"reads: a provider's policy goes in `{POLICY_ATTRIBUTE}`, e.g. "
                    f'{POLICY_ATTRIBUTE} = {{"retries": 0}}'
                )
            if name in by_name and by_name[name] is not cls:
                first = by_name[name]
                raise ProviderRegistryError(
                    f"duplicate provider name {name!r}: {_where(first)} and {_where(cls)}; "
                    "rename one of them"
                )
            by_name[name] = cls
        self._classes = dict(sorted(by_name.items()))

    @classmethod
    def from_package(cls, package: str = PROVIDERS_PACKAGE) -> "ProviderRegistry":
        return cls(discover(package))

    @classmethod
    def load(
        cls, providers_dir: Path | None, package: str = PROVIDERS_PACKAGE
    ) -> "ProviderRegistry":
        """The code providers of `package` and the file providers of `providers_dir`."""
        return cls([*discover(package), *load_directory(providers_dir)])

    @property
    def names(self) -> list[str]:
        return list(self._classes)

    def classes(self) -> list[type[BaseApiProvider]]:
        return list(self._classes.values())


def with_secrets(
    classes: Iterable[type[BaseApiProvider]], settings: Settings
) -> list[type[BaseApiProvider]]:
    """The classes whose secrets all resolve; a missing secret stops start-up, except for an
    `optional` provider, which is left out with a WARNING naming what is missing."""
    usable = []
    for cls in classes:
        try:
            cls.preflight(settings)
        except MissingSecretError as exc:
            if not cls.optional:
                raise
            logger.warning("optional provider %s left out: %s", cls.name, exc)
            continue
        usable.append(cls)
    return usable


def _where(cls: type[BaseApiProvider]) -> str:
    source = getattr(cls, "source", None)
    return f"file {source}" if source is not None else f"{cls.__module__}.{cls.__qualname__}"
