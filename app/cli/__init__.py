"""`python -m app serve | migrate | prune-logs | rebuild-rollups | keys | providers`
(docs/configuration.md, docs/providers.md)."""

import argparse
from datetime import UTC, datetime

from app.cli.database import exit_unreachable, migrate_or_exit
from app.cli.keys import add_keys_command
from app.cli.providers import add_providers_command
from app.cli.serve import add_serve_command
from app.core.config import get_settings
from app.core.db import UNAVAILABLE_ERRORS, public_url
from app.core.logging import configure_logging


def _migrate(_: argparse.Namespace) -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    migrate_or_exit(settings.database_url)
    print(f"database at head: {public_url(settings.database_url)}")


def _prune_logs(args: argparse.Namespace) -> None:
    from app.calllog.prune import prune_logs
    from app.core.db import create_db_engine

    settings = get_settings()
    configure_logging(settings.log_level)
    engine = create_db_engine(settings.database_url)
    try:
        deleted = prune_logs(engine, args.older_than_days, batch_size=args.batch_size)
    finally:
        engine.dispose()
    print(f"deleted {deleted} call-log rows older than {args.older_than_days} days")


def _rebuild_rollups(args: argparse.Namespace) -> None:
    from app.calllog.rollup_rebuild import rebuild_rollups
    from app.core.db import create_db_engine

    settings = get_settings()
    configure_logging(settings.log_level)
    engine = create_db_engine(settings.database_url)
    try:
        rows = rebuild_rollups(engine, args.since, args.until)
    finally:
        engine.dispose()
    print(f"rebuilt call-log rollups from {rows} rows")


def _utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_command(commands)
    migrate = commands.add_parser("migrate", help="bring the database schema to head")
    migrate.set_defaults(handler=_migrate)
    prune = commands.add_parser(
        "prune-logs", help="delete call-log rows older than N days, in small batches"
    )
    prune.add_argument("--older-than-days", type=int, required=True)
    prune.add_argument("--batch-size", type=int, default=1000, help="rows per delete transaction")
    prune.set_defaults(handler=_prune_logs, doing="prune the call log")
    rebuild = commands.add_parser(
        "rebuild-rollups",
        help="recompute the 5-minute call-log rollups from the rows (default: all of them)",
    )
    rebuild.add_argument("--since", type=_utc, help="ISO time, UTC unless it says otherwise")
    rebuild.add_argument("--until", type=_utc, help="ISO time (exclusive)")
    rebuild.set_defaults(handler=_rebuild_rollups, doing="rebuild the rollups")
    add_keys_command(commands)
    add_providers_command(commands)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except UNAVAILABLE_ERRORS as exc:
        # serve and migrate say so themselves; this is for the commands that read or write rows.
        exit_unreachable(get_settings().database_url, exc, getattr(args, "doing", args.command))
