"""Every log record of the process passes through `redact_text` when it is created.

A record factory, not a handler filter, so it covers every handler (ours, uvicorn's, pytest's
capture) and every logger, the call-log writer's and library loggers included. String
arguments are redacted one by one, so formatters that read `record.args` (uvicorn's access
log) keep working; only when the formatted message still holds something to hide is it
replaced by its redacted text. An exception whose text carries a secret
is replaced by its redacted rendering. Fields passed with `extra=` are set after the factory
runs and are not covered: they must already be redacted (the template method's output is).
"""

import logging
from typing import Any

from app.security.redaction import redact_text

_MARK = "_fanout_redacting"


class RedactedError(Exception):
    """Stands in for an exception whose text or traceback carried a secret."""


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    redacted = redact_text(text)
    return value if redacted == text else redacted


def _redact_record(record: logging.LogRecord) -> None:
    if record.args:
        # Arguments one by one first, so formatters that read `args` keep their shape.
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = None  # a broken format string: logging reports it, leave it be
    if message is not None:
        redacted = redact_text(message)
        if redacted != message:
            # The secret is in the template, or spans it and an argument.
            record.msg, record.args = redacted, ()
    if record.exc_info and record.exc_info[1] is not None:
        rendered = logging.Formatter().formatException(record.exc_info)
        redacted = redact_text(rendered)
        if redacted != rendered:
            record.exc_info = (RedactedError, RedactedError(redacted), None)
            record.exc_text = None


def install_log_redaction() -> None:
    """Wrap the process's record factory once; later calls change nothing."""
    current = logging.getLogRecordFactory()
    if getattr(current, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _redact_record(record)
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
