"""`JsonRequests`: any method, a JSON body, an auth scheme; the half of `BaseApiProvider` that
sends requests other than `get_json`'s plain GET."""

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from app.core.errors import UpstreamStatusError
from app.http import HttpClient, current_call
from app.integrations.auth import Auth
from app.resilience.policy import ProviderPolicy


class JsonRequests:
    """What `request_json` needs of its provider: set by `BaseApiProvider.__init__`."""

    auth: Auth | None
    policy: ProviderPolicy
    _timeout: httpx.Timeout | None
    _max_bytes: int
    _redirects: bool

    async def request_json(
        self,
        client: HttpClient,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """`method` `url` with `json` as the body (when not None), under the same cap, timeouts
        and errors as `get_json`, with `self.auth`'s credentials; the answer as an object.

        A POST or PATCH of a provider whose policy retries non-idempotent calls carries an
        `Idempotency-Key`, the same on every attempt of one call. With a token scheme, a 401
        drops the token and the request is sent once more with a fresh one.
        """
        payload = await self.request_any(
            client, method, url, params=params, headers=headers, json=json
        )
        return payload if type(payload) is dict else as_object(payload)

    async def request_any(
        self,
        client: HttpClient,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """`request_json`, the answer's JSON value as it came (an array stays an array)."""
        sent = dict(headers or {})
        content = None
        if json is not None:
            content = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        if method in ("POST", "PATCH") and self.policy.retry_non_idempotent:
            state = current_call.get()
            if state is not None:
                state.idempotency_key = state.idempotency_key or uuid.uuid4().hex
                sent["Idempotency-Key"] = state.idempotency_key
        auth = self.auth
        query: Mapping[str, Any] | None = params
        if auth is not None:
            sent = {**auth.headers, **sent}
            query = {**auth.query, **params} if params else auth.query or None
        if auth is None or not auth.refreshable:
            return await self._send(client, method, url, query, sent, content)
        token = await auth.token(client)
        try:
            return await self._send(client, method, url, query, _bearer(sent, token), content)
        except UpstreamStatusError as exc:
            if exc.status_code != 401:
                raise
        auth.invalidate(token)
        token = await auth.token(client)
        return await self._send(client, method, url, query, _bearer(sent, token), content)

    async def _send(
        self,
        client: HttpClient,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        content: bytes | None,
    ) -> Any:
        return await client.fetch_json(
            url,
            method=method,
            params=params,
            headers=headers,
            content=content,
            timeouts=self._timeout,
            limit=self._max_bytes,
            same_origin_redirects=self._redirects,
        )


def as_object(payload: object) -> dict[str, Any]:
    """A top-level answer that is not an object, as one: `data` is always a JSON object.

    An array becomes `{"items": [...]}`, any other value (string, number, boolean, null)
    `{"value": ...}`.
    """
    if isinstance(payload, list):
        return {"items": payload}
    return {"value": payload}


def _bearer(headers: Mapping[str, str], token: str) -> dict[str, str]:
    return {**headers, "Authorization": f"Bearer {token}"}
