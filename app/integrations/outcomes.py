"""What an attempt that raised comes to: every exception of a provider call mapped to a kind.

`BaseApiProvider._attempt` catches what `_fetch` (or the response check) raised and asks
`failed` for its outcome; messages name the error, never what was sent.
"""

import json
from typing import Any

import httpx
from pydantic import ValidationError

from app.core.errors import (
    ErrorKind,
    ProviderCallError,
    UpstreamStatusError,
    summarize_validation_error,
)
from app.resilience.runner import Outcome


def failed(exc: Exception, data: dict[str, Any] | None) -> Outcome:
    """The outcome of an attempt that raised `exc`; `data` is kept for a validation error."""
    outcome = _mapped(exc)
    if outcome.kind is ErrorKind.VALIDATION_ERROR:
        outcome.data = data  # shown beside the error, to show the drift
    return outcome


def _mapped(exc: Exception) -> Outcome:
    # The order matters: the first matching class decides (as `except` clauses would).
    if isinstance(exc, ValidationError):
        return Outcome(ErrorKind.VALIDATION_ERROR, summarize_validation_error(exc))
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(ErrorKind.TIMEOUT, f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.HTTPStatusError):
        status_code = exc.response.status_code
        message = f"upstream answered HTTP {status_code}"
        retry_after = exc.response.headers.get("retry-after")
        return Outcome(ErrorKind.HTTP_STATUS, message, None, status_code, retry_after)
    if isinstance(exc, httpx.TransportError):
        return Outcome(ErrorKind.CONNECTION_ERROR, _describe(exc))
    if isinstance(exc, httpx.DecodingError):
        # The whole body arrived; what it holds is unusable, as a body that is not JSON.
        return Outcome(ErrorKind.INVALID_JSON, "body could not be decoded (Content-Encoding)")
    if isinstance(exc, UpstreamStatusError):
        return Outcome(exc.kind, str(exc), None, exc.status_code, exc.retry_after)
    if isinstance(exc, ProviderCallError):
        return Outcome(exc.kind, str(exc))
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return Outcome(ErrorKind.INVALID_JSON, f"body is not valid JSON: {exc}")
    return Outcome(ErrorKind.PROVIDER_ERROR, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
