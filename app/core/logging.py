"""Process-wide logging: JSON lines on stderr, uvicorn's own lines included.

One `dictConfig` for the CLI's process and for uvicorn, which applies it again in every worker
it starts (a spawned worker inherits no logging set-up), so no line is plain text.
"""

import logging.config
from typing import Any


def logging_config(level: str) -> dict[str, Any]:
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.observability.logging.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own handlers would print plain text: theirs go, the root's JSON serves.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            # httpx logs every request's full URL at INFO, query string (and any key in it).
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(logging_config(level))
