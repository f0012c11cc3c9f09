"""Read `PROVIDERS_DIR`: one provider per `*.yaml`/`*.yml` file, every mistake named.

An error says which file, which field (as a dotted path: `request.url`, `params.city.type`)
and what to do, and stops start-up: `ProviderFileError` collects every file's problems, so one
run shows them all. Values are never quoted back (a field may hold a secret).
"""

from pathlib import Path
from typing import Any

import jmespath
import jsonschema_rs
import yaml
from pydantic import ValidationError

from app.integrations.files import template
from app.integrations.files.provider import DEMO_UPSTREAM, FileProvider, make_class
from app.integrations.files.spec import ProviderFile
from app.integrations.secrets import REFERENCE
from app.resilience.policy import PolicyError, check_overrides

SUFFIXES = (".yaml", ".yml")


class ProviderFileError(RuntimeError):
    """One or more provider files are invalid; `problems` lists `file: field: what to fix`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid provider file(s):\n  " + "\n  ".join(problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice; keep one", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def provider_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())


def load_directory(directory: Path | None) -> list[type[FileProvider]]:
    """The provider classes of every file in `directory` (none when it is None or absent)."""
    if directory is None:
        return []
    classes: list[type[FileProvider]] = []
    problems: list[str] = []
    for path in provider_files(directory):
        try:
            classes.append(load_file(path))
        except ProviderFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ProviderFileError(problems)
    return classes


def load_file(path: Path) -> type[FileProvider]:
    """One file's provider class, or `ProviderFileError` naming each problem."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except UnicodeDecodeError:
        raise ProviderFileError([f"{path}: is not UTF-8 text; save it as UTF-8"]) from None
    except OSError as exc:
        raise ProviderFileError([f"{path}: cannot be read ({exc.strerror})"]) from None
    except yaml.YAMLError as exc:
        raise ProviderFileError([f"{path}: {_yaml_problem(exc)}"]) from None
    if not isinstance(raw, dict):
        got = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ProviderFileError(
            [f"{path}: the file is {got}; write a mapping with name, request, ... at the top"]
        )
    try:
        spec = ProviderFile.model_validate(raw)
    except ValidationError as exc:
        raise ProviderFileError([f"{path}: {_pydantic_problem(e)}" for e in exc.errors()]) from None
    problems = [f"{path}: {problem}" for problem in check_spec(spec)]
    if problems:
        raise ProviderFileError(problems)
    return make_class(spec, path)


def check_spec(spec: ProviderFile) -> list[str]:
    """What the models alone cannot check: templates, parameters, expressions, policy."""
    problems: list[str] = []
    request = spec.request
    url = None
    # A URL that starts with a reference is checked once it resolves (at start-up).
    if not request.url.startswith("${") or request.url.startswith(DEMO_UPSTREAM):
        try:
            url = template.UrlTemplate(request.url, _placeholder_secrets)
        except template.TemplateError as exc:
            problems.append(f"request.url: {exc}")
    declared = set(spec.params)
    used = {
        "request.url": template.names_in(request.url),
        "request.query": template.names_in(request.query),
        "request.headers": template.names_in(request.headers),
        "request.json": template.names_in(request.json_body),
    }
    for field, names in used.items():
        for name in sorted(names - declared):
            problems.append(f"{field}: {{{name}}} is not a declared parameter; add params.{name}")
    if url is not None:
        for name in url.params:
            param = spec.params.get(name)
            if param is not None and not param.required and param.default is None:
                problems.append(
                    f"params.{name}: fills a path segment, so it needs required: true or a default"
                )
    if request.method == "GET" and request.json_body is not None:
        problems.append("request.json: a GET sends no body; remove it or use another method")
    if spec.response.select is not None:
        try:
            jmespath.compile(spec.response.select)
        except jmespath.exceptions.JMESPathError as exc:
            first = str(exc).splitlines()[0]
            problems.append(f"response.select: not a valid JMESPath expression ({first})")
    if spec.response.schema_ is not None:
        try:
            jsonschema_rs.validator_for(spec.response.schema_)
        except (jsonschema_rs.ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0]
            problems.append(f"response.schema: not a valid JSON Schema ({first})")
    try:
        check_overrides("policy", spec.policy)
    except PolicyError as exc:
        problems.append(str(exc))
    return problems


def _placeholder_secrets(text: str) -> str:
    text = text.replace(DEMO_UPSTREAM, "http://demo.invalid")
    return REFERENCE.sub("secret", text)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    return f"not valid YAML{where}: {problem}"


_HINTS = {
    "missing": "add it",
    "extra_forbidden": "remove it (or fix its spelling)",
    "union_tag_invalid": "use one of none, api_key, bearer, basic, oauth2_client_credentials",
    "union_tag_not_found": "add auth.type",
}


def _pydantic_problem(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    message = error["msg"]
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "is not a known field"
    hint = _HINTS.get(kind)
    return f"{field}: {message}" + (f"; {hint}" if hint else "")
