"""Templates of a file provider, compiled once: `{param}` placeholders filled per call.

* The URL: its scheme, host and port are fixed at start-up (a placeholder there is refused);
  a placeholder in the path fills part of one segment, percent-encoded, and a value that would
  change the target (`/`, `\\`, `..`, `?`, `#`, `%`-encoded slashes, control characters, an
  empty value) is refused before any call (`ParamProblem`, a 422 naming the parameter).
* `query` and `headers`: a value whose parameter is absent (and has no default) is left out.
* The JSON body: a string that is exactly `{param}` takes the typed value; a placeholder
  inside a longer string is replaced as text; a member whose parameter is absent is left out.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

# `{param}`, not the `{NAME}` of a `${NAME}` secret reference.
PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TARGET_CHANGERS = ("/", "\\", "?", "#", "%2f", "%5c", "%2e", "%3f", "%23")
_ABSENT = object()

Parts = tuple[str | tuple[str], ...]  # literal text, or (param name,)
Values = Mapping[str, Any]
# Resolves `${...}` in literal text. Applied after the split into parts, so a secret's value
# is never read as a `{param}`.
Expand = Callable[[str], str]


def _same(text: str) -> str:
    return text


class TemplateError(ValueError):
    """A template cannot be used as written; the message says what to change."""


class ParamProblem(ValueError):
    """A client's value cannot be used; `param` names it, the message says what to fix."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


def split(template: str, expand: Expand = _same) -> Parts:
    """`a{x}b` -> ("a", ("x",), "b"), with `${...}` expanded in the literal parts."""
    parts: list[str | tuple[str]] = []
    pos = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > pos:
            parts.append(expand(template[pos : match.start()]))
        parts.append((match.group(1),))
        pos = match.end()
    if pos < len(template):
        parts.append(expand(template[pos:]))
    return tuple(parts)


def names_in(value: Any) -> set[str]:
    """Every parameter a template (a string or a JSON structure of them) refers to."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(names_in(k) | names_in(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(names_in(item) for item in value))
    return set()


def render(parts: Parts, values: Values) -> str | None:
    """The text, or None when a parameter it needs is absent."""
    out: list[str] = []
    for part in parts:
        if type(part) is str:
            out.append(part)
            continue
        value = values.get(part[0], _ABSENT)
        if value is _ABSENT:
            return None
        out.append(as_text(value))
    return "".join(out)


def as_text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


class UrlTemplate:
    """The fixed origin and a path whose placeholders each fill (part of) one segment."""

    def __init__(self, url: str, expand: Expand = _same) -> None:
        parts = list(split(url, expand))
        head = parts[0] if parts and type(parts[0]) is str else ""
        scheme, sep, rest = head.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            raise TemplateError("must start with http:// or https://")
        authority, slash, path_start = rest.partition("/")
        if not slash and len(parts) > 1:
            raise TemplateError(
                "a {placeholder} may fill path segments only, never the scheme, host or port"
            )
        if not authority or urlsplit(f"{scheme}://{authority}/").hostname is None:
            raise TemplateError("has no host")
        tail: list[str | tuple[str]] = [slash + path_start, *parts[1:]]
        suffix = ""
        last = tail[-1]
        if type(last) is str and "?" in last:
            path_end, _, query = last.partition("?")
            tail[-1], suffix = path_end, "?" + query
        if any(type(part) is str and ("?" in part or "#" in part) for part in tail) or (
            "#" in suffix
        ):
            raise TemplateError(
                "put query parameters under request.query (and no #fragment), not in the URL"
            )
        self.origin = f"{scheme}://{authority}"
        self.parts: Parts = tuple(tail)
        self.suffix = suffix
        self.params = tuple(part[0] for part in self.parts if type(part) is tuple)
        self.fixed = None if self.params else self.origin + "".join(map(str, tail)) + suffix

    def render(self, values: Values) -> str:
        if self.fixed is not None:
            return self.fixed
        out = [self.origin]
        for part in self.parts:
            if type(part) is str:
                out.append(part)
            else:
                out.append(segment(part[0], values[part[0]]))
        out.append(self.suffix)
        return "".join(out)


def segment(param: str, value: Any) -> str:
    """`value` as (part of) one path segment, or `ParamProblem` when it would change the
    target."""
    text = as_text(value)
    lowered = text.lower()
    if not text or lowered in (".", "..") or ".." in text:
        raise ParamProblem(param, f"path parameter {param!r} must not be empty, '.' or '..'")
    if any(bad in lowered for bad in _TARGET_CHANGERS) or _CONTROL.search(text):
        raise ParamProblem(
            param,
            f"path parameter {param!r} must not contain '/', '\\', '?', '#', "
            "percent-encoded separators or control characters",
        )
    return quote(text, safe="")


Renderer = Callable[[Values], Any]


def compile_json(template: Any, expand: Expand = _same) -> Renderer:
    """A function of the values that builds the body; members with absent parameters are
    left out (`_ABSENT` inside, never returned at the top)."""
    if isinstance(template, str):
        parts = split(template, expand)
        if len(parts) == 1 and type(parts[0]) is tuple:
            name = parts[0][0]
            return lambda values: values.get(name, _ABSENT)
        if not any(type(part) is tuple for part in parts):
            fixed = "".join(map(str, parts))
            return lambda values: fixed
        return lambda values: _absent_if_none(render(parts, values))
    if isinstance(template, dict):
        members = [(key, compile_json(value, expand)) for key, value in template.items()]

        def build_object(values: Values) -> Any:
            built = {}
            for key, member in members:
                value = member(values)
                if value is not _ABSENT:
                    built[key] = value
            return built

        return build_object
    if isinstance(template, list):
        items = [compile_json(item, expand) for item in template]
        return lambda values: [v for item in items if (v := item(values)) is not _ABSENT]
    return lambda values: template


def _absent_if_none(text: str | None) -> Any:
    return _ABSENT if text is None else text


def compile_pairs(
    templates: Mapping[str, str],
    expand: Expand = _same,
    extra: Mapping[str, str] | None = None,
) -> Callable[[Values], dict[str, str]]:
    """For `query` and `headers`: fixed pairs once, templated ones per call. `extra` pairs
    (an auth scheme's: resolved secrets, never parsed for placeholders) come first."""
    fixed = dict(extra or {})
    fixed.update({k: expand(v) for k, v in templates.items() if not PLACEHOLDER.search(v)})
    templated = [(k, split(v, expand)) for k, v in templates.items() if PLACEHOLDER.search(v)]
    if not templated:
        return lambda values: fixed

    def build(values: Values) -> dict[str, str]:
        pairs = dict(fixed)
        for key, parts in templated:
            text = render(parts, values)
            if text is not None:
                pairs[key] = text
        return pairs

    return build


def typed(name: str, kind: str, value: Any) -> Any:
    """`value` as the parameter's declared type, or `ParamProblem` naming it."""
    try:
        if kind == "string":
            return value if isinstance(value, str) else as_text(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError
        if isinstance(value, bool):
            raise ValueError
        number = int(value) if kind == "integer" else float(value)
        if kind == "integer" and isinstance(value, float) and value != number:
            raise ValueError
        return number
    except (TypeError, ValueError):
        article = "an" if kind == "integer" else "a"
        raise ParamProblem(name, f"parameter {name!r} must be {article} {kind}") from None
