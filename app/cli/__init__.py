"""`python -m app serve | migrate | prune-logs | rebuild-rollups | keys` (docs/configuration.md)."""

import argparse
import os
from datetime import UTC, datetime

import uvicorn

from app.cli.keys import add_keys_command
from app.core.config import get_settings
from app.core.logging import configure_logging, logging_config
from app.core.migrate import upgrade_to_head


def _serve(args: argparse.Namespace) -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    # Migrate once here, not in every worker's lifespan.
    upgrade_to_head(settings.database_url)
    os.environ["DB_AUTO_MIGRATE"] = "false"
    get_settings.cache_clear()
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http=args.http,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level),
        access_log=args.access_log,
        # Bound what a slow or greedy client can hold (docs/security.md, "Slow clients").
        timeout_keep_alive=args.timeout_keep_alive,
        limit_concurrency=args.limit_concurrency,
        backlog=args.backlog,
        # Only the h11 parser has a size limit for the request line and headers.
        h11_max_incomplete_event_size=args.h11_max_header_bytes,
    )


def _migrate(_: argparse.Namespace) -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade_to_head(settings.database_url)
    print(f"database at head: {settings.database_url.split('@')[-1]}")


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
    serve = commands.add_parser("serve", help="migrate, then run the service with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        help="connections plus in-flight requests per worker before new ones get 503",
    )
    serve.add_argument(
        "--timeout-keep-alive", type=int, default=5, help="seconds an idle connection stays open"
    )
    serve.add_argument("--backlog", type=int, default=2048, help="pending connections queued")
    serve.add_argument(
        "--http",
        choices=["httptools", "h11"],
        default="httptools",
        help="httptools is faster; h11 also caps header size (facing clients without a proxy)",
    )
    serve.add_argument(
        "--h11-max-header-bytes",
        type=int,
        default=16_384,
        help="with --http h11: request line plus headers larger than this get 400",
    )
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False)
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="bring the database schema to head")
    migrate.set_defaults(handler=_migrate)
    prune = commands.add_parser(
        "prune-logs", help="delete call-log rows older than N days, in small batches"
    )
    prune.add_argument("--older-than-days", type=int, required=True)
    prune.add_argument("--batch-size", type=int, default=1000, help="rows per delete transaction")
    prune.set_defaults(handler=_prune_logs)
    rebuild = commands.add_parser(
        "rebuild-rollups",
        help="recompute the 5-minute call-log rollups from the rows (default: all of them)",
    )
    rebuild.add_argument("--since", type=_utc, help="ISO time, UTC unless it says otherwise")
    rebuild.add_argument("--until", type=_utc, help="ISO time (exclusive)")
    rebuild.set_defaults(handler=_rebuild_rollups)
    add_keys_command(commands)
    args = parser.parse_args(argv)
    args.handler(args)
