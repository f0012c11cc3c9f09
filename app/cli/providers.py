"""`python -m app providers list | new | check | schema`: tooling for people adding providers."""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.cli.scaffold import write_code_provider, write_file_provider
from app.core.config import Settings, get_settings
from app.core.errors import ErrorKind
from app.integrations.base import BaseApiProvider
from app.integrations.files import FileProvider, ProviderFileError, json_schema
from app.integrations.files.template import TemplateError
from app.integrations.registry import ProviderRegistry, ProviderRegistryError
from app.integrations.secrets import MissingSecretError
from app.security.redaction import redact_text, redact_url


def _registry(settings: Settings) -> ProviderRegistry:
    try:
        return ProviderRegistry.load(settings.providers_dir)
    except (ProviderFileError, ProviderRegistryError) as exc:
        sys.exit(f"error: {exc}")


def _describe(cls: type[BaseApiProvider], settings: Settings) -> tuple[str, str, str, str]:
    """(kind, auth type, method, URL without secrets)."""
    if issubclass(cls, FileProvider):
        # The URL as written: `${...}` references stay references, never their values.
        return "file", cls.spec.auth.type, cls.spec.request.method, cls.spec.request.url
    try:
        provider = cls(settings)
    except MissingSecretError:
        return "code", "?", cls.method, "(a secret is missing: run `providers check`)"
    auth = provider.auth.type if provider.auth is not None else "-"
    return "code", auth, cls.method, redact_url(provider.endpoint)


def _list(_: argparse.Namespace) -> None:
    settings = get_settings()
    rows = [(cls.name, *_describe(cls, settings)) for cls in _registry(settings).classes()]
    header = ("NAME", "KIND", "AUTH", "METHOD", "URL")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[4]]))


def _schema(_: argparse.Namespace) -> None:
    print(json.dumps(json_schema(), indent=2))


def _new(args: argparse.Namespace) -> None:
    settings = get_settings()
    try:
        if args.code:
            written = write_code_provider(args.name, args.url, args.method, args.auth)
        else:
            directory = settings.providers_dir or Path("providers")
            written = [write_file_provider(directory, args.name, args.url, args.method, args.auth)]
    except (FileExistsError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    for path in written:
        print(f"wrote {path}")


def _check(args: argparse.Namespace) -> None:
    settings = get_settings()
    classes = _registry(settings).classes()
    if args.names:
        unknown = sorted(set(args.names) - {cls.name for cls in classes})
        if unknown:
            sys.exit(f"error: unknown provider(s) {', '.join(unknown)}")
        classes = [cls for cls in classes if cls.name in args.names]
    failed = 0
    ready = []
    for cls in classes:
        try:
            cls.preflight(settings)
        except (MissingSecretError, TemplateError) as exc:
            failed += 1
            print(f"FAIL  {cls.name}: {exc}")
            continue
        ready.append(cls)
        print(f"ok    {cls.name}: valid, every secret resolves")
    if args.live and ready:
        failed += asyncio.run(_live(ready, settings))
    if failed:
        sys.exit(f"{failed} problem(s)")


async def _live(classes: list[type[BaseApiProvider]], settings: Settings) -> int:
    """One call per provider; prints status, time and whether the answer matches its schema."""
    from app.http import create_http_client
    from app.simulator import Simulator

    simulator = None
    if settings.demo_upstream_url is None:
        simulator = Simulator(latency_scale=0, error_rate=0, drift_rate=0)
        await simulator.start()
        settings = settings.model_copy(update={"demo_upstream_url": simulator.url})
    failed = 0
    try:
        async with create_http_client(settings) as client:
            for cls in classes:
                provider = cls(settings)
                started = time.perf_counter()
                result = await provider.execute(client, {}, request_id="providers-check")
                ms = (time.perf_counter() - started) * 1000
                matches = "n/a" if result.data is None else str(not result.is_validation_error)
                status = result.status_code if result.status_code is not None else "-"
                line = f"{cls.name}: status {status}, {ms:.0f} ms, schema matches: {matches}"
                if result.success:
                    print(f"live  {line}")
                    continue
                failed += 1
                kind = result.error_kind or ErrorKind.PROVIDER_ERROR
                print(f"FAIL  {line}, {kind}: {redact_text(result.error_message or '')}")
    finally:
        if simulator is not None:
            await simulator.close()
    return failed


def add_providers_command(commands: Any) -> None:
    parser = commands.add_parser("providers", help="list, scaffold, check providers")
    sub = parser.add_subparsers(dest="providers_command", required=True)
    sub.add_parser("list", help="name, kind, auth, method and URL of every provider").set_defaults(
        handler=_list
    )
    sub.add_parser("schema", help="the JSON Schema of provider files").set_defaults(handler=_schema)
    new = sub.add_parser("new", help="write a ready-to-edit provider file (or module)")
    new.add_argument("name")
    new.add_argument("--url", required=True)
    new.add_argument("--method", default="GET", choices=["GET", "POST", "PUT", "PATCH", "DELETE"])
    new.add_argument(
        "--auth",
        default="none",
        choices=["none", "api_key", "bearer", "basic", "oauth2_client_credentials"],
    )
    new.add_argument("--code", action="store_true", help="a Python module and its test instead")
    new.set_defaults(handler=_new)
    check = sub.add_parser("check", help="validate files and secrets; --live calls each once")
    check.add_argument("names", nargs="*")
    check.add_argument("--live", action="store_true")
    check.set_defaults(handler=_check)
