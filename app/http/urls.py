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


# Characters no encoding touches (RFC 3986 "unreserved"): a query of only these is its own
# encoding, whatever httpx's rules for the others.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def with_query(head: str, params: Mapping[str, Any]) -> str:
    """`head` (a URL as httpx built it, without its query) with `params` as the query, as
    httpx builds it: encoded by `httpx.QueryParams`, and no `?` when they encode to nothing.

    Plain names and values (ids, codes, words) skip `QueryParams`, ~11 us a call under load:
    joined as they are, they are what it would make of them.
    """
    pairs = []
    for name, value in params.items():
        text = _as_text(value)
        if not _UNRESERVED.issuperset(name) or not _UNRESERVED.issuperset(text):
            query = str(httpx.QueryParams(params))
            break
        pairs.append(f"{name}={text}")
    else:
        query = "&".join(pairs)
    return f"{head}?{query}" if query else head


def _as_text(value: Any) -> str:
    """A param's value as httpx writes it (JSON's true and false, nothing for None)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


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
