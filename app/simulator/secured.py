"""The simulator's APIs for auth schemes and shapes the demo catalog does not have.

    GET  /auth/api-key     X-Api-Key: API_KEY, or ?api_key=API_KEY
    GET  /auth/bearer      Authorization: Bearer BEARER_TOKEN
    GET  /auth/basic       Authorization: Basic of BASIC_USER:BASIC_PASSWORD
    POST /oauth/token      client credentials grant (client id and secret as Basic or form)
    GET  /auth/oauth       Authorization: Bearer <a token /oauth/token issued, not revoked>
    POST /orders           a JSON body {"item": ..., "quantity": ...} -> 201 the order
    GET  /array/users      a top-level JSON array

A wrong or missing credential is a 401 with `WWW-Authenticate`. The credentials are fixed demo
values (the example providers in `providers/` send them); tests read the counters and flip
`token_endpoint_down` or call `revoke_tokens` to drive refreshes and failures.
"""

import base64
import binascii
import itertools
import secrets
from urllib.parse import parse_qsl

import orjson

from app.simulator.http import Response

API_KEY = "sim-api-key-0001"
BEARER_TOKEN = "sim-bearer-token-0001"  # noqa: S105 (a demo credential, public on purpose)
BASIC_USER, BASIC_PASSWORD = "demo", "sim-basic-pass"
CLIENT_ID, CLIENT_SECRET = "demo-client", "sim-client-secret-0001"
TOKEN_LIFETIME_S = 3600

_JSON = [("Content-Type", "application/json")]
_USERS = [
    {"id": 1, "name": "Ada", "role": "admin"},
    {"id": 2, "name": "Grace", "role": "engineer"},
    {"id": 3, "name": "Linus", "role": "engineer"},
]


def _json(status: int, payload: object, extra: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [*_JSON, *(extra or [])], orjson.dumps(payload))


def _unauthorized(scheme: str) -> Response:
    challenge = [("WWW-Authenticate", f'{scheme} realm="simulator"')]
    return _json(401, {"error": "unauthorized"}, challenge)


def _basic_pair(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class SecuredApis:
    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.token_endpoint_down = False
        self._order_ids = itertools.count(1)

    def revoke_tokens(self) -> None:
        """Every issued token is refused from now on (as after a key rotation)."""
        self.tokens.clear()

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response | None:
        """The answer for a path this module serves, else None."""
        route = (method, path)
        if route == ("POST", "/oauth/token"):
            return self._token(headers, body)
        if route == ("POST", "/orders"):
            return self._order(body)
        if route == ("GET", "/array/users"):
            return _json(200, _USERS)
        if method != "GET" or not path.startswith("/auth/"):
            return None
        authorization = headers.get("authorization", "")
        scheme = path.removeprefix("/auth/")
        if scheme == "api-key":
            given = headers.get("x-api-key") or dict(parse_qsl(query)).get("api_key")
            ok = given == API_KEY
        elif scheme == "bearer":
            ok = authorization == f"Bearer {BEARER_TOKEN}"
        elif scheme == "basic":
            ok = _basic_pair(authorization) == (BASIC_USER, BASIC_PASSWORD)
        elif scheme == "oauth":
            ok = authorization.startswith("Bearer ") and authorization[7:] in self.tokens
        else:
            return _json(404, {"error": "not_found"})
        if not ok:
            return _unauthorized("Basic" if scheme == "basic" else "Bearer")
        return _json(200, {"authenticated": True, "scheme": scheme, "user": BASIC_USER})

    def _token(self, headers: dict[str, str], body: bytes) -> Response:
        self.token_requests += 1
        if self.token_endpoint_down:
            return _json(503, {"error": "temporarily_unavailable"})
        form = dict(parse_qsl(body.decode("latin-1")))
        client = _basic_pair(headers.get("authorization", "")) or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        if client != (CLIENT_ID, CLIENT_SECRET):
            return _json(401, {"error": "invalid_client"})
        token = f"sim-oauth-{secrets.token_urlsafe(16)}"
        self.tokens.add(token)
        payload = {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S}
        return _json(200, payload)

    def _order(self, body: bytes) -> Response:
        try:
            order = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json(400, {"error": "body is not JSON"})
        if not isinstance(order, dict) or not isinstance(order.get("item"), str):
            return _json(422, {"error": "an order needs an item"})
        quantity = order.get("quantity", 1)
        created = {"id": next(self._order_ids), "item": order["item"], "quantity": quantity}
        return _json(201, {**created, "status": "created"})
