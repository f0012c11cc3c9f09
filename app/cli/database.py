"""How a command says that its database is out: one ERROR line and exit 1, never a traceback."""

import logging
from typing import NoReturn

from sqlalchemy.engine import make_url

from app.core.db import UNAVAILABLE_ERRORS, public_url
from app.core.migrate import upgrade_to_head

logger = logging.getLogger("app.cli")


def exit_unreachable(database_url: str, exc: BaseException, doing: str, hint: str = "") -> NoReturn:
    """Log which database could not be reached (password masked) and what to check; exit 1."""
    check = (
        "that its directory exists and is writable"
        if make_url(database_url).get_backend_name() == "sqlite"
        else "that it is running"
    )
    # The class only: the driver's message may repeat the URL, password included.
    logger.error(
        "cannot %s: the database at %s could not be reached (%s); check %s and that "
        "DATABASE_URL points at it%s",
        doing,
        public_url(database_url),
        type(getattr(exc, "orig", None) or exc).__name__,
        check,
        hint,
    )
    raise SystemExit(1) from None


def migrate_or_exit(database_url: str, *, hint: str = "") -> None:
    """Bring the schema to head, or `exit_unreachable`."""
    try:
        upgrade_to_head(database_url)
    except (*UNAVAILABLE_ERRORS, OSError) as exc:  # OSError: an SQLite directory it cannot make
        exit_unreachable(database_url, exc, "migrate", hint)
