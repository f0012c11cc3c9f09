"""Strip credentials from everything we store, return or log: one step, one module.

Three rules, applied by `redact_text` (free text: error messages, log lines), `redact_url` (one
URL) and `redact_data` (an upstream's JSON object, before it is returned or stored):

* Key names on a deny-list (authorization, token, api_key, password, secret, cookie, session,
  ...; `REDACT_EXTRA_KEYS` adds more) hide their value: as a JSON key at any depth, and as a
  `key=value`, `key: value` or `"key": "value"` pair in text. A key matches when its name
  contains a listed word, case and `-`/`_` ignored, so `X-Auth-Token` and `github_token` match.
* URLs lose their userinfo and every query value: a query string rarely says which of its keys
  is a secret, so none is trusted.
* Known secret values (every `SecretStr` setting, the database password, every provider
  secret and OAuth2 token: `register_secrets`) are replaced wherever they appear, raw or
  percent-encoded, whatever surrounds them: an upstream that echoes our credential back under
  an innocent key, or an exception that prints a header, still leaks nothing.
* Credentials by shape, in any text: `Bearer <token>` (16+ token characters, or 8+ with a
  digit or punctuation, so "Bearer authentication" stays) and `Basic <base64 of user:pw>`.

The process has one active `Redactor`; `configure` swaps it at start-up (lists replaced,
secrets only ever added). The regular expressions have bounded repetition so a long string
costs linear time; `bench/redaction.py` measures the hot path.
"""

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

REDACTED = "[REDACTED]"

DEFAULT_DENY_KEYS: tuple[str, ...] = (
    "authorization",
    "api_key",
    "apikey",
    "token",
    "password",
    "passwd",
    "secret",
    "cookie",
    "session",
    "credential",
    "private_key",
    "signature",
)

# Shorter values would blank out ordinary words: `configure` skips them, and start-up refuses
# secret settings that short (`app.security.setup`).
MIN_SECRET_LENGTH = 6

# Scheme at a token start, bounded: an unanchored `[a-z0-9+.-]*://` is quadratic on long runs.
_URL = re.compile(
    r"""(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,30}://)(?P<rest>[^\s'"<>]+)"""
)
# `Bearer x` / `Basic x` in any case a human or a server writes them.
_SHAPE_HINT = re.compile(r"(?:[Bb]earer|BEARER|[Bb]asic|BASIC)\s")
_SHAPE = re.compile(
    r"(?<![\w-])(?P<scheme>[Bb]earer|BEARER|[Bb]asic|BASIC)(?P<space>\s+)"
    r"(?P<cred>[A-Za-z0-9\-._~+/]{1,4096}=*)"
)
_QUERY_VALUE = re.compile(r"([?&;][^=&;#\s]*=)(?!\[REDACTED\])[^&;#\s]*")
_KEY_CACHE_SIZE = 4096


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


# A `key` + separator at a token start, then (only for a deny-listed key) its value. Two steps
# and a dictionary lookup instead of one pattern with the deny-list inside it: that one tried
# every word at every position and cost ~70 us on a 100-character error message.
_KEY_SEP = re.compile(r"""(?<![\w.-])(?P<key>[\w.-]{1,64})(?P<sep>["']?\s*[:=]\s*)""")
_VALUE = re.compile(
    r"""(?!\[REDACTED\])(?:"[^"]*"|'[^']*'|(?:(?:bearer|basic|digest|token)\s+)?"""
    r"""[^\s,;'"&})\]]+)""",
    re.IGNORECASE,
)


def _redact_url_rest(rest: str) -> str:
    authority, sep, tail = rest.partition("/")
    if "?" in authority:  # no path: http://host?x=1
        authority, qsep, query = authority.partition("?")
        tail, sep = qsep + query, ""
    if "@" in authority:
        authority = REDACTED + "@" + authority.rsplit("@", 1)[1]
    return authority + sep + _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, tail)


def _redact_shape(match: re.Match[str]) -> str:
    cred = match.group("cred")
    if match.group("scheme").lower() == "bearer":
        secret = len(cred) >= 16 or (
            len(cred) >= 8 and any(c.isdigit() or c in "-._~+/=" for c in cred)
        )
    else:
        secret = _is_basic_credential(cred)
    if not secret:
        return match.group(0)
    return match.group("scheme") + match.group("space") + REDACTED


def _is_basic_credential(cred: str) -> bool:
    """Base64 of `user:password`: what a Basic header holds, and not an ordinary word."""
    if len(cred) < 4:
        return False
    try:
        decoded = base64.b64decode(cred + "=" * (-len(cred) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _redact_url_match(match: re.Match[str]) -> str:
    return match.group("scheme") + _redact_url_rest(match.group("rest"))


class Redactor:
    """One deny-list and one set of known secrets, applied to text, URLs and JSON data."""

    def __init__(
        self, deny_keys: Iterable[str] = DEFAULT_DENY_KEYS, secrets: Iterable[str] = ()
    ) -> None:
        self.deny_keys = tuple(dict.fromkeys(_normalise_key(k) for k in deny_keys if k.strip()))
        self.secrets = frozenset(s for s in secrets if s)
        # Longest first, so a secret that contains another is replaced whole.
        variants = {v for s in self.secrets for v in (s, quote(s, safe=""), quote_plus(s))}
        self._secret_variants = tuple(sorted(variants, key=len, reverse=True))
        self._key_cache: dict[str, bool] = {}
        # A pair to redact holds a deny-listed word (as `_`, `-` or nothing); a secret is itself.
        # One regex scan of the lowercased text finds out (IGNORECASE scans ~5x slower), and
        # most text has neither. A dump to screen may also hold a URL.
        needles = {v.lower() for v in self._secret_variants}
        for word in self.deny_keys:
            needles.update(word.replace("_", sep) for sep in ("_", "-", ""))
        alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
        self._screen_text = re.compile(alternatives)
        self._screen_dump = re.compile(f"://|bearer\\s|basic\\s|{alternatives}".encode())
        # JSON escapes these, so a secret holding one may not show verbatim in the dump.
        self._screenable = not any(c in s for s in self.secrets for c in '"\\\x7f') and all(
            c >= " " for s in self.secrets for c in s
        )

    def is_sensitive_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is None:
            normalised = _normalise_key(key)
            cached = any(word in normalised for word in self.deny_keys)
            if len(self._key_cache) >= _KEY_CACHE_SIZE:
                self._key_cache.clear()
            self._key_cache[key] = cached
        return cached

    def text(self, text: str) -> str:
        for secret in self._secret_variants:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _SHAPE_HINT.search(text) is not None:
            text = _SHAPE.sub(_redact_shape, text)
        # Cheapest exits first: a pair needs `:` or `=`, and so does a URL (`://`).
        if ":" not in text and "=" not in text:
            return text
        # Only userinfo (@) and query values (?) are taken out of a URL.
        if "://" in text and ("@" in text or "?" in text):
            text = _URL.sub(_redact_url_match, text)
        if self._screen_text.search(text.lower()) is not None:
            text = self._redact_pairs(text)
        return text

    def _redact_pairs(self, text: str) -> str:
        parts: list[str] = []
        pos = done = 0
        while (pair := _KEY_SEP.search(text, pos)) is not None:
            pos = pair.end()
            if not self.is_sensitive_key(pair.group("key")):
                continue  # its value is scanned like any text: `note: token=x` still matches
            value = _VALUE.match(text, pos)
            if value is None:
                continue
            quote_char = text[pos] if text[pos] in "\"'" else ""
            parts += (text[done:pos], quote_char, REDACTED, quote_char)
            pos = done = value.end()
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def url(self, url: str) -> str:
        for secret in self._secret_variants:
            if secret in url:
                url = url.replace(secret, REDACTED)
        match = _URL.match(url)
        if not match:
            return url
        return match.group("scheme") + _redact_url_rest(match.group("rest"))

    def data(self, value: Any) -> Any:
        """A redacted copy of a JSON value; the very same object when nothing needed hiding.

        Most payloads hold nothing to hide, and walking them node by node costs about 30x
        dumping them: so the dump is screened first, and only a hit is walked.
        """
        if self._screenable and isinstance(value, dict | list):
            try:
                dumped = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).lower()
            except TypeError:
                return self._walk(value)
            if self._screen_dump.search(dumped) is None:
                return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            changed: dict[Any, Any] | None = None
            for key, item in value.items():
                if isinstance(key, str) and item is not None and self.is_sensitive_key(key):
                    new: Any = REDACTED
                else:
                    new = self._walk(item)
                if new is not item:
                    if changed is None:
                        changed = dict(value)
                    changed[key] = new
            return value if changed is None else changed
        if isinstance(value, list):
            items = [self._walk(item) for item in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                return items
            return value
        return value


_active = Redactor()


def configure(extra_deny_keys: Iterable[str] = (), secrets: Iterable[str] = ()) -> Redactor:
    """Make the process-wide redactor: defaults plus `extra_deny_keys`, old plus new secrets."""
    global _active
    kept = (s for s in secrets if len(s) >= MIN_SECRET_LENGTH)
    _active = Redactor((*DEFAULT_DENY_KEYS, *extra_deny_keys), _active.secrets.union(kept))
    return _active


def register_secrets(secrets: Iterable[str]) -> None:
    """Add secret values to the active redactor (a provider's credential, an OAuth2 token).

    Values shorter than `MIN_SECRET_LENGTH` are not registered (they would blank out ordinary
    words); provider secrets that short are refused at start-up instead.
    """
    global _active
    new = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH} - _active.secrets
    if new:
        _active = Redactor(_active.deny_keys, _active.secrets | new)


def active() -> Redactor:
    return _active


def redact_text(text: str) -> str:
    """Redact known secrets, URLs and credential-like `key=value` pairs in free text."""
    return _active.text(text)


def redact_url(url: str) -> str:
    """Remove known secrets, userinfo and query values from one URL."""
    return _active.url(url)


def redact_data(value: Any) -> Any:
    """Redact a JSON value: deny-listed keys at any depth, and every string as text."""
    return _active.data(value)
