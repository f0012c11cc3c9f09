"""Client API keys: generated here, configured as hashes (`API_KEYS`), verified per request.

Keys are 32 random bytes, so a plain SHA-256 is a safe way to store them: there is nothing to
brute-force that a slow hash would protect. Verification hashes what the client sent and looks
the digest up; the lookup compares digests of a secret the caller does not control, so it
leaks nothing about a stored key through timing.
"""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

KEY_PREFIX = "fo_"


class ApiKeyEntry(BaseModel):
    """One configured client key: a name, the key's SHA-256 and an optional provider list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Who holds the key.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key.")
    providers: list[str] | None = Field(
        default=None, description="Providers this key may call; every provider when omitted."
    )


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request, once authenticated."""

    name: str
    providers: frozenset[str] | None = None  # None: every provider
    rate_limited: bool = True

    def allows(self, provider: str) -> bool:
        return self.providers is None or provider in self.providers


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyConfigError(ValueError):
    """`API_KEYS` is inconsistent; raised at start-up."""


def parse_entries(raw: Iterable[object]) -> list[ApiKeyEntry]:
    """`API_KEYS` as entries; a bad one is named by position and field, never by its value."""
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(ApiKeyEntry.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise KeyConfigError(f"API_KEYS entry {index}: {problems}") from None
    return entries


class KeyStore:
    def __init__(self, entries: Iterable[ApiKeyEntry]) -> None:
        self._by_hash: dict[str, Principal] = {}
        names: set[str] = set()
        for entry in entries:
            if entry.name in names:
                raise KeyConfigError(f"API_KEYS names {entry.name!r} twice; names must be unique")
            if entry.sha256 in self._by_hash:
                raise KeyConfigError(f"API_KEYS entry {entry.name!r} repeats another key's hash")
            names.add(entry.name)
            allowed = frozenset(entry.providers) if entry.providers is not None else None
            self._by_hash[entry.sha256] = Principal(entry.name, allowed)

    def __bool__(self) -> bool:
        return bool(self._by_hash)

    def verify(self, presented: str) -> Principal | None:
        """The key's principal, or None when no configured key matches."""
        return self._by_hash.get(hash_key(presented))
