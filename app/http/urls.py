"""Pure helpers of `HttpClient`: URL cache keys and queries, header merges, userinfo as Basic
auth."""

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import httpx

_SCALARS = (str, int, float, bool)


def cache_key(url: object, params: object) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    if type(url) is not str:
        return None
    if params is None:
        return (url, ())
    if type(params) is not dict:
        return None
    items = tuple(params.items())
    for name, value in items:
        if type(name) is not str or not isinstance(value, _SCALARS):
            return None
    # (key, 1) and (key, True) or (key, 1.0) hash alike but encode differently.
    return (url, tuple((name, (type(value), value)) for name, value in items))


def with_query(head: str, params: Mapping[str, Any]) -> str:
    """`head` (a URL as httpx built it, without its query) with `params` as the query, as
    httpx builds it: encoded by `httpx.QueryParams`, and no `?` when they encode to nothing."""
    query = str(httpx.QueryParams(params))
    return f"{head}?{query}" if query else head


def split_userinfo(url: str) -> tuple[str, str | None]:
    """(`url` without userinfo, the Basic credential it held), or (`url`, None)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if not sep or "@" not in authority:
        return url, None
    userinfo, _, host = authority.rpartition("@")
    user, _, password = userinfo.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    return f"{scheme}://{host}{slash}{tail}", "Basic " + base64.b64encode(pair).decode("ascii")


def merged_headers(
    defaults: httpx.Headers, extra: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    """The client's headers, each overridden by a same-named (any case) request header.

    Among the request's own, the last of one name (any case) wins, as in `httpx.Headers`.
    """
    encoding = defaults.encoding
    if not extra:
        return [(name.decode(encoding), value.decode(encoding)) for name, value in defaults.raw]
    last = {name.lower(): (name, value) for name, value in extra.items()}
    merged = [
        (name.decode(encoding), value.decode(encoding))
        for name, value in defaults.raw
        if name.decode(encoding).lower() not in last
    ]
    merged.extend(last.values())
    return merged
