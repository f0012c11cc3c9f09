"""What can go wrong when we call an external API.

Every failure of a provider call ends as an `ExternalResponse` with one `ErrorKind`; no
exception escapes the template method. The kinds form three families, so retries and circuit
breakers can tell a sick upstream from an upstream that answered something we cannot use, and
both from a call our own policies refused:

* Technical: the call did not complete. Worth a retry and counted by a breaker.
    - `timeout`: connect, read, the per-call deadline or the request deadline ran out.
    - `connection_error`: refused, reset (also mid-body), DNS, TLS, protocol errors.
    - `http_status`: the upstream answered with a non-2xx status (`status_code` says which).
      429 and 5xx are technical; other statuses (4xx, a redirect we did not follow) mean our
      request was wrong and are logical.
    - `rate_limited` with a `status_code`: the upstream said 429/503 with a `Retry-After`
      pointing past our deadline (`retry_at` says when to come back).
    - `auth_error`: no credential could be obtained (an OAuth2 token endpoint refused,
      failed or answered without a token); the message says what it answered.
* Logical: the call completed but the answer is unusable. Retrying gives the same answer.
    - `invalid_json`: the body is not JSON, not UTF-8, not declared JSON, or not decodable
      by its `Content-Encoding`.
    - `validation_error`: the body does not match the provider's response model (or schema).
    - `response_too_large`: the body passed the provider's size cap (declared or streamed).
    - `provider_error`: the provider's own code raised (a bug in `_fetch`).
* Refused by our policies: no network call was made (or no further one), nothing to count.
    - `circuit_open`: the provider's circuit breaker is open.
    - `rate_limited` without a `status_code`: our outbound token bucket had no token in time.
    - `bulkhead_full`: the provider's in-flight cap stayed full until the deadline.

Exception tree raised inside `_fetch` helpers and mapped by `BaseApiProvider.execute`:

    ProviderCallError
    ├── UpstreamStatusError   (http_status; carries status_code and Retry-After)
    ├── InvalidPayloadError   (invalid_json)
    ├── ResponseTooLargeError (response_too_large; carries the cap)
    ├── SchemaMismatchError   (validation_error: a file provider's `response.schema`)
    └── AuthError             (auth_error)
"""

from enum import StrEnum

from pydantic import ValidationError


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    HTTP_STATUS = "http_status"
    INVALID_JSON = "invalid_json"
    VALIDATION_ERROR = "validation_error"
    RESPONSE_TOO_LARGE = "response_too_large"
    PROVIDER_ERROR = "provider_error"
    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMITED = "rate_limited"
    BULKHEAD_FULL = "bulkhead_full"
    AUTH_ERROR = "auth_error"


_TECHNICAL = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION_ERROR, ErrorKind.AUTH_ERROR})
REFUSED_BY_POLICY = frozenset(
    {ErrorKind.CIRCUIT_OPEN, ErrorKind.RATE_LIMITED, ErrorKind.BULKHEAD_FULL}
)
# Statuses that say "try again later" rather than "your request is wrong".
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def is_technical(kind: ErrorKind, status_code: int | None = None) -> bool:
    """True for failures a retry might fix and a circuit breaker should count."""
    if kind is ErrorKind.HTTP_STATUS:
        return status_code is None or status_code == 429 or status_code >= 500
    if kind is ErrorKind.RATE_LIMITED:
        return status_code is not None  # the upstream said so, not our own bucket
    return kind in _TECHNICAL


def is_retryable(kind: ErrorKind, status_code: int | None = None) -> bool:
    """The narrower set a retry is allowed on: connection errors and 429/502/503/504."""
    if kind is ErrorKind.CONNECTION_ERROR:
        return True
    return kind is ErrorKind.HTTP_STATUS and status_code in RETRYABLE_STATUSES


class ProviderCallError(Exception):
    """Base of the errors a provider raises on purpose; `kind` decides the result."""

    kind: ErrorKind = ErrorKind.PROVIDER_ERROR


class UpstreamStatusError(ProviderCallError):
    kind = ErrorKind.HTTP_STATUS

    def __init__(self, status_code: int, reason: str = "", retry_after: str | None = None) -> None:
        self.status_code = status_code
        self.retry_after = retry_after
        super().__init__(f"upstream answered HTTP {status_code} {reason}".rstrip())


class InvalidPayloadError(ProviderCallError):
    kind = ErrorKind.INVALID_JSON


class ResponseTooLargeError(ProviderCallError):
    kind = ErrorKind.RESPONSE_TOO_LARGE

    def __init__(self, limit: int, declared: int | None = None) -> None:
        self.limit = limit
        said = f" (Content-Length {declared})" if declared is not None else ""
        super().__init__(f"response body larger than the cap of {limit} bytes{said}; not read")


class SchemaMismatchError(ProviderCallError):
    """The answer does not match a JSON Schema; the message names paths, never values."""

    kind = ErrorKind.VALIDATION_ERROR


class AuthError(ProviderCallError):
    """No credential could be obtained; the message says what the token endpoint answered."""

    kind = ErrorKind.AUTH_ERROR


def summarize_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """Which fields did not match, never the values (they may hold anything)."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors[:limit]]
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return f"response does not match {exc.title}: " + "; ".join(parts) + more
