"""`python -m app keys new | list | revoke`: manage the client keys in `API_KEYS`.

Keys live in settings, so the commands never write anything: they print the `API_KEYS` line
to put in the environment or `.env`. A new key is printed once; only its hash is kept.
"""

import argparse
import json
import shlex
from collections.abc import Sequence
from typing import Any

from app.core.config import get_settings
from app.integrations.registry import ProviderRegistry
from app.security.api_keys import ApiKeyEntry, KeyConfigError, generate_key, hash_key, parse_entries


def add_keys_command(commands: "argparse._SubParsersAction[Any]") -> None:
    keys = commands.add_parser("keys", help="create, list and revoke client API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    new = actions.add_parser("new", help="generate a key, print it once with its API_KEYS line")
    new.add_argument("name", help="who holds the key (letters, digits, _ . -)")
    new.add_argument(
        "--providers", default=None, help="comma-separated providers it may call (default: all)"
    )
    new.set_defaults(handler=_new)
    listing = actions.add_parser("list", help="list configured keys (names and hash prefixes)")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="print the API_KEYS line without one key")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_revoke)


def api_keys_line(entries: Sequence[ApiKeyEntry]) -> str:
    payload = [e.model_dump(exclude_none=True) for e in entries]
    return "API_KEYS=" + shlex.quote(json.dumps(payload, separators=(",", ":")))


def _configured() -> list[ApiKeyEntry]:
    try:
        return parse_entries(get_settings().api_keys)
    except KeyConfigError as exc:
        raise SystemExit(str(exc)) from None


def _new(args: argparse.Namespace) -> None:
    existing = _configured()
    if any(e.name == args.name for e in existing):
        raise SystemExit(f"a key named {args.name!r} is already configured; pick another name")
    providers = None
    if args.providers is not None:
        providers = [p.strip() for p in args.providers.split(",") if p.strip()]
        valid = ProviderRegistry.from_package().names
        unknown = sorted(set(providers) - set(valid))
        if unknown:
            raise SystemExit(f"unknown provider(s) {unknown}; valid names: {', '.join(valid)}")
    key = generate_key()
    try:
        entry = ApiKeyEntry(name=args.name, sha256=hash_key(key), providers=providers)
    except ValueError as exc:
        raise SystemExit(f"invalid key name {args.name!r}: {exc}") from exc
    print(f"New key for {args.name!r}. It is shown once and not stored; hand it over now:")
    print(f"  {key}")
    print("Set this (it keeps the keys already configured):")
    print(api_keys_line([*existing, entry]))


def _list(_: argparse.Namespace) -> None:
    entries = _configured()
    if not entries:
        print("no API keys configured: only loopback clients may call (not in production)")
        return
    for entry in entries:
        scope = ", ".join(entry.providers) if entry.providers is not None else "all providers"
        print(f"{entry.name}\tsha256 {entry.sha256[:12]}...\t{scope}")


def _revoke(args: argparse.Namespace) -> None:
    existing = _configured()
    kept = [e for e in existing if e.name != args.name]
    if len(kept) == len(existing):
        names = ", ".join(e.name for e in existing) or "none"
        raise SystemExit(f"no key named {args.name!r}; configured: {names}")
    print(f"Set this to revoke {args.name!r} (restart the service to apply):")
    print(api_keys_line(kept))
