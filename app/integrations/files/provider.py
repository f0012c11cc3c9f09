"""`FileProvider`: a provider declared in a YAML file, a peer of the code providers.

`make_class` turns a validated `ProviderFile` into a `BaseApiProvider` subclass (one per file),
so the registry, policies, call log, metrics, listing and OpenAPI enum treat it like any other.
Its instance resolves `${...}` secrets, builds its auth object and compiles its templates once;
`_fetch` only fills in the parameters, sends, selects and validates.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import jmespath
import jsonschema_rs
import orjson

from app.core.config import Settings
from app.core.errors import ProviderCallError, SchemaMismatchError
from app.http import HttpClient
from app.integrations import secrets
from app.integrations.auth import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
)
from app.integrations.base import BaseApiProvider, Params
from app.integrations.files import template
from app.integrations.files.spec import (
    ApiKeySpec,
    BasicSpec,
    BearerSpec,
    OAuth2Spec,
    ProviderFile,
)
from app.integrations.sending import as_object

# The simulator's address is known only once it started: not a secret, filled in per instance.
DEMO_UPSTREAM = "${DEMO_UPSTREAM_URL}"
_MAX_SCHEMA_ERRORS = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CREDENTIAL_FIELDS = frozenset({"auth.value", "auth.token", "auth.password", "auth.client_secret"})


class SecretFieldError(secrets.MissingSecretError):
    """A `${...}` of a provider file cannot be resolved; names the file, field and variable."""


class FileProvider(BaseApiProvider):
    """Subclassed per file by `make_class`; the class attributes come from the file."""

    spec: ClassVar[ProviderFile]
    source: ClassVar[Path]
    demo: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        spec = self.spec
        request = spec.request
        self._verb = request.method
        resolved = self.resolve_secrets(settings)
        expand = _expander(settings)
        self._url = self.url_template(settings)
        self.auth = _auth(spec, resolved, self)
        body = request.json_body
        self._body = template.compile_json(body, expand) if body is not None else None
        # Fixed credentials are merged into the fixed pairs once: on the common path a call
        # goes straight to the client, as a hand-written provider's `get_json` does.
        static = self.auth is not None and not self.auth.refreshable
        auth_headers = dict(self.auth.headers) if static and self.auth else {}
        if self._body is not None:
            auth_headers["Content-Type"] = "application/json"
        self._query = template.compile_pairs(
            request.query, expand, self.auth.query if static and self.auth else None
        )
        self._headers = template.compile_pairs(request.headers, expand, auth_headers)
        # A token scheme (401 refresh) or an Idempotency-Key goes through `request_any`.
        self._direct = (self.auth is None or static) and not (
            self._verb in ("POST", "PATCH") and self.policy.retry_non_idempotent
        )
        self._select = jmespath.compile(spec.response.select) if spec.response.select else None
        schema = spec.response.schema_
        self._validator = jsonschema_rs.validator_for(schema) if schema is not None else None
        # (name, default, type, fills the path, goes in a header, required) per parameter.
        self._param_plan = [
            (
                name,
                p.default,
                p.type,
                name in self._url.params,
                name in template.names_in(request.headers),
                p.required,
            )
            for name, p in spec.params.items()
        ]

    @classmethod
    def templates(cls) -> dict[str, str]:
        """Every string field that may hold `${...}`, by its path in the file."""
        request, auth = cls.spec.request, cls.spec.auth
        fields = {"request.url": request.url}
        fields.update({f"request.query.{k}": v for k, v in request.query.items()})
        fields.update({f"request.headers.{k}": v for k, v in request.headers.items()})
        fields.update({f"request.json: {s}": s for s in _strings(request.json_body)})
        for name, value in auth.model_dump(by_alias=True).items():
            if isinstance(value, str) and name != "type":
                fields[f"auth.{name}"] = value
        return fields

    @classmethod
    def preflight(cls, settings: Settings) -> None:
        super().preflight(settings)
        cls.resolve_secrets(settings)
        cls.url_template(settings)

    @classmethod
    def url_template(cls, settings: Settings) -> template.UrlTemplate:
        try:
            return template.UrlTemplate(cls.spec.request.url, _expander(settings))
        except template.TemplateError as exc:
            raise template.TemplateError(f"{cls.source}: request.url: {exc}") from None

    @classmethod
    def resolve_secrets(cls, settings: Settings) -> dict[str, str]:
        """Every templated field with its `${...}` resolved (and registered with redaction)."""
        resolved = {}
        for field, text in cls.templates().items():
            # Credentials must be long enough to redact; other fields may be short.
            expand = _expander(settings, strict=field in _CREDENTIAL_FIELDS)
            try:
                resolved[field] = expand(text)
            except secrets.MissingSecretError as exc:
                raise SecretFieldError(
                    f"{cls.source}: {field}: {exc} (provider {cls.name!r})"
                ) from None
        return resolved

    @property
    def endpoint(self) -> str:
        return self._url.origin + "".join(
            part if type(part) is str else "{" + part[0] + "}" for part in self._url.parts
        )

    def check_params(self, params: Params) -> list[tuple[str, str]]:
        try:
            self._values(params)
        except template.ParamProblem as exc:
            return [(exc.param, str(exc))]
        return []

    def _values(self, params: Params) -> dict[str, Any]:
        """The declared parameters' values: given or default, typed, checked."""
        values: dict[str, Any] = {}
        for name, default, kind, in_path, in_header, required in self._param_plan:
            value = params.get(name, default)
            if value is None:
                if required or in_path:
                    raise template.ParamProblem(
                        name, f"provider {self.name!r} needs parameter {name!r}"
                    )
                continue
            if kind != "string" or type(value) is not str:
                value = template.typed(name, kind, value)
            if in_path:
                template.segment(name, value)
            if in_header and _CONTROL.search(template.as_text(value)):
                raise template.ParamProblem(
                    name, f"parameter {name!r} goes in a header: no control characters"
                )
            values[name] = value
        return values

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        try:
            values = self._values(params)
        except template.ParamProblem as exc:
            raise ProviderCallError(str(exc)) from None
        body = self._body
        url = self._url.fixed or self._url.render(values)
        if self._direct:
            payload = await client.fetch_json(
                url,
                method=self._verb,
                params=self._query(values) or None,
                headers=self._headers(values),
                content=orjson.dumps(body(values)) if body is not None else None,
                timeouts=self._timeout,
                limit=self._max_bytes,
                same_origin_redirects=self._redirects,
            )
        else:
            payload = await self.request_any(
                client,
                self._verb,
                url,
                params=self._query(values) or None,
                headers=self._headers(values),
                json=body(values) if body is not None else None,
            )
        if self._select is not None:
            payload = self._select.search(payload)
        return payload if type(payload) is dict else as_object(payload)

    def _check_response(self, data: dict[str, Any]) -> None:
        validator = self._validator
        if validator is None or validator.is_valid(data):
            return
        problems = []
        for error in validator.iter_errors(data):
            where = "/".join(map(str, error.instance_path)) or "(root)"
            keyword = error.schema_path[-1] if error.schema_path else "schema"
            problems.append(f"{where}: fails {keyword!r}")
            if len(problems) > _MAX_SCHEMA_ERRORS:
                break
        more = " (+more)" if len(problems) > _MAX_SCHEMA_ERRORS else ""
        shown = "; ".join(problems[:_MAX_SCHEMA_ERRORS])
        raise SchemaMismatchError(
            f"response does not match the schema of {self.name}: {shown}{more}"
        )


def _expander(settings: Settings, *, strict: bool = False) -> template.Expand:
    demo = str(settings.demo_upstream_url or "http://127.0.0.1:8001").rstrip("/")
    return lambda text: secrets.expand(text.replace(DEMO_UPSTREAM, demo), strict=strict)


def _strings(value: Any) -> list[str]:
    """The strings of a JSON template that hold a `${...}` reference."""
    if isinstance(value, str):
        return [value] if "${" in value else []
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _auth(
    spec: ProviderFile, resolved: Mapping[str, str], provider: BaseApiProvider
) -> Auth | None:
    auth = spec.auth
    if isinstance(auth, ApiKeySpec):
        return ApiKeyAuth(auth.name, resolved["auth.value"], where=auth.in_)
    if isinstance(auth, BearerSpec):
        return BearerAuth(resolved["auth.token"])
    if isinstance(auth, BasicSpec):
        return BasicAuth(resolved["auth.username"], resolved["auth.password"])
    if isinstance(auth, OAuth2Spec):
        return OAuth2ClientCredentials(
            resolved["auth.token_url"],
            resolved["auth.client_id"],
            resolved["auth.client_secret"],
            scope=resolved.get("auth.scope"),
            audience=resolved.get("auth.audience"),
            client_auth=auth.client_auth,
            refresh_before_s=auth.refresh_before_s,
            timeouts=provider._timeout,
        )
    return None


def make_class(spec: ProviderFile, source: Path) -> type[FileProvider]:
    """The provider class of one validated file."""
    params_doc = {
        name: p.description + (" (required)" if p.required else "")
        for name, p in spec.params.items()
    }
    attributes = {
        "name": spec.name,
        "description": spec.description,
        "method": spec.request.method,
        "params_doc": params_doc,
        "policy_overrides": dict(spec.policy),
        "optional": spec.optional,
        "spec": spec,
        "source": source,
        "demo": spec.request.url.startswith(DEMO_UPSTREAM),
        "__module__": __name__,
    }
    return type(f"FileProvider_{spec.name}", (FileProvider,), attributes)
