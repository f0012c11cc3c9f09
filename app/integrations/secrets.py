"""Provider secrets: resolved once at start-up, registered with redaction, never in `Settings`.

A reference is an environment variable's name (`GITHUB_TOKEN`) or a file (`file:/run/secrets/x`,
as Docker and Kubernetes mount secrets; one trailing newline is dropped). In a template string
(a file provider's `url`, `headers`, `auth`, ...) references are written `${GITHUB_TOKEN}` and
`${file:/run/secrets/x}`. Every value resolved is registered with `app.security.redaction`, so
it is scrubbed from every response, row and log line wherever it shows up.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path

from app.security import redaction

# `${NAME}` or `${file:/path}`; `$${` writes a literal `${`.
REFERENCE = re.compile(r"(?<!\$)\$\{([^{}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MissingSecretError(RuntimeError):
    """A secret a provider needs cannot be resolved; raised at start-up, names what to set."""


def resolve(
    reference: str, environ: Mapping[str, str] | None = None, *, strict: bool = True
) -> str:
    """The value of `NAME` (environment) or `file:/path`, registered with redaction.

    Raises `MissingSecretError` naming the variable or file (never a value). A value too short
    to redact safely is refused when `strict` (a credential), else used but not registered (a
    user name, a client id: not secrets, and short ones would blank out ordinary words).
    """
    environ = os.environ if environ is None else environ
    if reference.startswith("file:"):
        path = Path(reference[len("file:") :])
        try:
            value = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise MissingSecretError(f"cannot read secret file {path}: {why}") from None
        where = f"secret file {path}"
    else:
        if not _ENV_NAME.match(reference):
            raise MissingSecretError(
                f"{reference!r} is not an environment variable name nor file:/path"
            )
        value = environ.get(reference, "")
        where = f"environment variable {reference}"
        if not value:
            raise MissingSecretError(f"{where} is not set")
    if strict and len(value) < redaction.MIN_SECRET_LENGTH:
        raise MissingSecretError(
            f"{where} is shorter than {redaction.MIN_SECRET_LENGTH} characters; "
            "set the real credential"
        )
    redaction.register_secrets([value])
    return value


def expand(template: str, environ: Mapping[str, str] | None = None, *, strict: bool = True) -> str:
    """`template` with every `${...}` reference replaced by its resolved (registered) value."""
    if "$" not in template:
        return template
    expanded = REFERENCE.sub(lambda m: resolve(m.group(1), environ, strict=strict), template)
    return expanded.replace("$${", "${")


def references(template: str) -> list[str]:
    """The `${...}` references a template holds, in order."""
    return REFERENCE.findall(template)


def resolve_all(
    provider: str, wanted: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A code provider's `secrets` (key -> reference) resolved; errors name the provider."""
    resolved: dict[str, str] = {}
    for key, reference in wanted.items():
        try:
            resolved[key] = resolve(reference, environ)
        except MissingSecretError as exc:
            raise MissingSecretError(f"provider {provider!r} needs secret {key!r}: {exc}") from None
    return resolved
