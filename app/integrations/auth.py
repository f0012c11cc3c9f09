"""Auth schemes of upstream APIs: reusable objects for file and code providers alike.

* `ApiKeyAuth` (a header or a query parameter), `BearerAuth`, `BasicAuth`: fixed credentials,
  sent as `headers` and `query` merged into every request.
* `OAuth2ClientCredentials`: a token from a token endpoint (RFC 6749 section 4.4), cached until
  shortly before it expires. Calls that find no valid token share one token request (the first
  starts it as a task of its own, the others await the same task: 200 concurrent calls on a
  cold start make one request). A 401 from the API drops the token the call used
  (`invalidate`), and `BaseApiProvider.request_json` retries once with a fresh one. A token
  endpoint that fails raises `AuthError` (`auth_error`) saying what it answered.

Every credential given to these objects, and every token obtained, is registered with redaction.
"""

import asyncio
import base64
import contextvars
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
import orjson

from app.core.errors import (
    AuthError,
    InvalidPayloadError,
    ResponseTooLargeError,
    UpstreamStatusError,
)
from app.http import HttpClient, current_call
from app.security import redaction

TOKEN_LIMIT_BYTES = 64 * 1024
# Without `expires_in` a token is kept this long (a 401 still drops it earlier).
DEFAULT_TOKEN_TTL_S = 300.0


class Auth:
    """A scheme: what it adds to every request, and (OAuth2) a token to fetch."""

    type: ClassVar[str] = "none"
    refreshable: ClassVar[bool] = False  # has a token that a 401 should renew

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.query: dict[str, str] = {}

    async def token(self, client: HttpClient) -> str:
        raise NotImplementedError(f"{self.type} has no token")

    def invalidate(self, token: str) -> None:
        """Forget `token` (the API refused it); a scheme without tokens has nothing to drop."""


class NoAuth(Auth):
    type = "none"


class ApiKeyAuth(Auth):
    type = "api_key"

    def __init__(self, name: str, value: str, *, where: Literal["header", "query"]) -> None:
        super().__init__()
        redaction.register_secrets([value])
        if where == "header":
            self.headers[name] = value
        else:
            self.query[name] = value


class BearerAuth(Auth):
    type = "bearer"

    def __init__(self, token: str) -> None:
        super().__init__()
        redaction.register_secrets([token])
        self.headers["Authorization"] = f"Bearer {token}"


class BasicAuth(Auth):
    type = "basic"

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        redaction.register_secrets([password])
        self.headers["Authorization"] = basic_header(username, password)


def basic_header(username: str, password: str) -> str:
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class OAuth2ClientCredentials(Auth):
    """Client credentials grant; `client_auth` sends the client's id and secret as a Basic
    header (RFC 6749's preferred way) or as `client_id`/`client_secret` form fields."""

    type = "oauth2_client_credentials"
    refreshable = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        audience: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        refresh_before_s: float = 30.0,
        timeouts: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        redaction.register_secrets([client_secret])
        self.token_url = token_url
        form = {"grant_type": "client_credentials"}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if client_auth == "basic":
            headers["Authorization"] = basic_header(client_id, client_secret)
        else:
            form.update(client_id=client_id, client_secret=client_secret)
        if scope:
            form["scope"] = scope
        if audience:
            form["audience"] = audience
        self._form = urlencode(form).encode("ascii")
        self._token_headers = headers
        self._refresh_before_s = refresh_before_s
        self._timeouts = timeouts
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._pending: asyncio.Task[str] | None = None
        self.requests = 0  # token requests made: what the single-flight tests count

    async def token(self, client: HttpClient) -> str:
        token = self._token
        if token is not None and self._clock() < self._expires_at:
            return token
        pending = self._pending
        if pending is None:
            # Its own task, outside the call's bookkeeping (not an attempt of the first caller),
            # so a caller that is cancelled does not cancel it for the others.
            context = contextvars.copy_context()
            context.run(current_call.set, None)
            pending = asyncio.get_running_loop().create_task(
                self._fetch_token(client), context=context
            )
            pending.add_done_callback(self._fetched)
            self._pending = pending
        return await asyncio.shield(pending)

    def invalidate(self, token: str) -> None:
        if self._token == token:  # not a newer one another call already fetched
            self._token = None

    def _fetched(self, task: "asyncio.Task[str]") -> None:
        self._pending = None
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    async def _fetch_token(self, client: HttpClient) -> str:
        self.requests += 1
        try:
            payload = await client.fetch_json(
                self.token_url,
                method="POST",
                headers=self._token_headers,
                content=self._form,
                timeouts=self._timeouts,
                limit=TOKEN_LIMIT_BYTES,
            )
        except UpstreamStatusError as exc:
            raise AuthError(f"token endpoint: {exc}") from None
        except httpx.TimeoutException:
            raise AuthError("token endpoint timed out") from None
        except httpx.TransportError as exc:
            raise AuthError(f"token endpoint unreachable ({type(exc).__name__})") from None
        except (InvalidPayloadError, ResponseTooLargeError, orjson.JSONDecodeError) as exc:
            raise AuthError(f"token endpoint answered no usable JSON ({exc})") from None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("token endpoint answered without an access_token")
        redaction.register_secrets([token])
        lifetime = _lifetime(payload.get("expires_in"))
        # Renew shortly before expiry; a short-lived token keeps at least half its life.
        margin = min(self._refresh_before_s, lifetime / 2)
        self._token, self._expires_at = token, self._clock() + lifetime - margin
        return token


def _lifetime(expires_in: Any) -> float:
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)  # some servers send it as a string
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return float(expires_in)
    return DEFAULT_TOKEN_TTL_S
