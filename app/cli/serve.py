"""`python -m app serve`: check the port, migrate (unless told not to), run uvicorn.

What stops start-up is one log line that says what to change, never a traceback. The service
itself runs without its database (rows wait in the spool), so with `DB_AUTO_MIGRATE=false` a
restart during a database outage comes up and serves.
"""

import argparse
import errno
import logging
import os
import socket
from typing import Any

import uvicorn

from app.api.connections import GuardedHttpToolsProtocol
from app.cli.database import migrate_or_exit
from app.core.config import get_settings
from app.core.logging import configure_logging, logging_config

logger = logging.getLogger("app.cli")


def check_port(host: str, port: int) -> None:
    """Refuse early, in one line, a port uvicorn could not listen on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by a previous run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            what = "another process listens there: stop it, or choose another port with --port"
        elif exc.errno == errno.EACCES:
            what = "ports below 1024 need privileges: choose another port with --port"
        else:
            what = f"{exc.strerror or type(exc).__name__}: check --host and --port"
        logger.error("cannot listen on %s port %d: %s", host, port, what)
        raise SystemExit(1) from None


def serve(args: argparse.Namespace) -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    check_port(args.host, args.port)
    if settings.db_auto_migrate:
        # Once here, not in every worker's lifespan.
        migrate_or_exit(
            settings.database_url,
            hint=", or set DB_AUTO_MIGRATE=false to serve without it (calls are logged once "
            "it is back)",
        )
    os.environ["DB_AUTO_MIGRATE"] = "false"
    get_settings.cache_clear()
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        # httptools with a header timeout and shed-connection pacing (app/api/connections.py).
        http=GuardedHttpToolsProtocol if args.http == "httptools" else args.http,
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


def add_serve_command(commands: "argparse._SubParsersAction[Any]") -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="run the service with uvicorn, migrating first unless DB_AUTO_MIGRATE=false",
        description="Run the service with uvicorn. Migrates the database first unless "
        "DB_AUTO_MIGRATE=false; without migrating, it starts and serves while the database "
        "is down (rows wait in the spool).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = serve_parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    add("--port", type=int, default=8000, help="TCP port to listen on")
    add(
        "--workers",
        type=int,
        default=1,
        help="worker processes; each has its own connections, call-log writer and spool",
    )
    add(
        "--limit-concurrency",
        type=int,
        default=None,
        help="connections plus in-flight requests per worker before new ones get 503 (off: "
        "admission control bounds fan-outs, the header timeout bounds idle connections)",
    )
    add("--timeout-keep-alive", type=int, default=5, help="seconds an idle connection stays open")
    add("--backlog", type=int, default=2048, help="pending connections queued")
    add(
        "--http",
        choices=["httptools", "h11"],
        default="httptools",
        help="httptools is faster; h11 also caps header size (facing clients without a proxy)",
    )
    add(
        "--h11-max-header-bytes",
        type=int,
        default=16_384,
        help="with --http h11: request line plus headers larger than this get 400",
    )
    add(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="uvicorn's access lines too (the app writes its own app.access line per request)",
    )
    serve_parser.set_defaults(handler=serve)
