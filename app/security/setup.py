"""Wire security into an app: check the settings, then keys, limits, CORS and redaction.

Called by `create_app`, so a misconfiguration stops start-up with a message that says what
to change, never a request later.
"""

import logging
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.security import redaction
from app.security.api_keys import KeyConfigError, KeyStore, parse_entries
from app.security.auth import SecurityState, require_client
from app.security.limits import BodySizeLimitMiddleware
from app.security.log_redaction import install_log_redaction
from app.security.methods import install_allow_header
from app.security.openapi import PROTECTED_RESPONSES, install_limits_schema
from app.security.rate_limit import RateLimiter
from app.state import StateBackend

logger = logging.getLogger(__name__)

# For `app.include_router(router, dependencies=PROTECTED, responses=PROTECTED_RESPONSES)`.
PROTECTED = [Depends(require_client)]
__all__ = ["PROTECTED", "PROTECTED_RESPONSES", "SecurityConfigError", "install_security"]


class SecurityConfigError(RuntimeError):
    """The security settings cannot be served as they are; raised at start-up."""


def known_secrets(settings: Settings) -> list[str]:
    """Every `SecretStr` setting's value, and the passwords in the database and Redis URLs."""
    found = [
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    passwords = [make_url(settings.database_url).password]
    if settings.redis_url is not None:
        passwords.append(urlsplit(settings.redis_url.get_secret_value()).password)
    for password in passwords:
        if password and len(password) >= redaction.MIN_SECRET_LENGTH:
            found.append(str(password))
    return [s for s in found if s]


def check_settings(settings: Settings, provider_names: Iterable[str]) -> KeyStore:
    if settings.environment == "production" and not settings.api_keys:
        raise SecurityConfigError(
            "ENVIRONMENT=production needs client keys: set API_KEYS "
            "(generate one with `python -m app keys new NAME`)"
        )
    try:
        entries = parse_entries(settings.api_keys)
        keys = KeyStore(entries)
    except KeyConfigError as exc:
        raise SecurityConfigError(str(exc)) from exc
    valid = set(provider_names)
    for entry in entries:
        unknown = sorted(set(entry.providers or ()) - valid)
        if unknown:
            raise SecurityConfigError(
                f"API_KEYS entry {entry.name!r} names unknown provider(s) {unknown}; "
                f"valid names: {', '.join(sorted(valid))}"
            )
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and 0 < len(value) < redaction.MIN_SECRET_LENGTH:
            raise SecurityConfigError(
                f"{name.upper()} is shorter than {redaction.MIN_SECRET_LENGTH} characters; "
                "set the real credential"
            )
    return keys


def install_security(
    app: FastAPI,
    settings: Settings,
    provider_names: Sequence[str],
    shared: StateBackend | None = None,
) -> None:
    """Check the settings; install keys, limits, CORS, redaction, schema limits, 405s.

    With `shared` (REDIS_URL), each key's rate limit counts across every worker and replica.
    """
    keys = check_settings(settings, provider_names)
    redaction.configure(settings.redact_extra_keys, known_secrets(settings))
    install_log_redaction()
    limiter = (
        RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        if settings.rate_limit_per_s > 0
        else None
    )
    app.state.security = SecurityState(keys, limiter, shared)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    install_limits_schema(app, settings)
    install_allow_header(app)
    if not keys:
        logger.warning(
            "no API keys configured: only loopback clients may call /integrations "
            "(set API_KEYS; `python -m app keys new NAME` makes one)"
        )
