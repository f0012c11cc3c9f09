"""The provider file format: one YAML file per provider, validated by these models.

`ProviderFile.model_json_schema()` is the JSON Schema published for editors
(`python -m app providers schema`, `providers/provider.schema.json`).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamSpec(_Strict):
    """One parameter a client may give: `{name}` in the request's templates takes it."""

    required: bool = Field(default=False, description="A request without it is a 422.")
    default: Scalar | None = Field(default=None, description="Used when the request omits it.")
    description: str = Field(default="", description="Shown in the providers listing.")
    type: Literal["string", "integer", "number", "boolean"] = Field(
        default="string",
        description="What the value must read as; a JSON body template gets it typed.",
    )


class RequestSpec(_Strict):
    method: Method = "GET"
    url: str = Field(
        description="http(s) URL. `{param}` may fill path segments (one segment each, "
        "percent-encoded), never the scheme, host or port; `${ENV}` and `${file:/path}` are "
        "resolved at start-up."
    )
    query: dict[str, str] = Field(default_factory=dict, description="Query parameters.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    json_body: Any = Field(
        default=None,
        alias="json",
        description="A JSON body template: a string that is exactly `{param}` takes the "
        "parameter's typed value; `{param}` inside a longer string is replaced as text.",
    )


class NoAuthSpec(_Strict):
    type: Literal["none"]


class ApiKeySpec(_Strict):
    type: Literal["api_key"]
    in_: Literal["header", "query"] = Field(alias="in", description="Where the key goes.")
    name: str = Field(min_length=1, description="The header's or query parameter's name.")
    value: str = Field(min_length=1, description="The key: `${ENV}` or `${file:/path}`.")


class BearerSpec(_Strict):
    type: Literal["bearer"]
    token: str = Field(min_length=1, description="`${ENV}` or `${file:/path}`.")


class BasicSpec(_Strict):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: str = Field(min_length=1, description="`${ENV}` or `${file:/path}`.")


class OAuth2Spec(_Strict):
    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, description="`${ENV}` or `${file:/path}`.")
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "body"] = Field(
        default="basic",
        description="How the client authenticates to the token endpoint: a Basic header "
        "(RFC 6749's preference) or client_id/client_secret form fields.",
    )
    refresh_before_s: float = Field(
        default=30.0, ge=0, description="Renew the token this long before it expires."
    )


AuthSpec = Annotated[
    NoAuthSpec | ApiKeySpec | BearerSpec | BasicSpec | OAuth2Spec, Field(discriminator="type")
]


class ResponseSpec(_Strict):
    select: str | None = Field(
        default=None,
        description="A JMESPath expression applied to the answer before it is validated, "
        "returned and stored (e.g. `data.items[].{id: id, name: name}`).",
    )
    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema of `data` as returned (after `select`; an array answer is "
        '`{"items": [...]}`). A mismatch is a `validation_error`.',
    )


class ProviderFile(_Strict):
    """A provider declared in a file (`PROVIDERS_DIR/<name>.yaml`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        title="API fan-out provider file",
    )

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,49}$",
        description="Lowercase letters, digits and underscores; unique among all providers.",
    )
    description: str = ""
    optional: bool = Field(
        default=False,
        description="Left out (with a WARNING) instead of stopping start-up when a secret "
        "it needs is missing.",
    )
    request: RequestSpec
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    auth: AuthSpec = Field(default_factory=lambda: NoAuthSpec(type="none"))
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="The same keys as PROVIDER_POLICIES (which still wins over them).",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the file format, as editors read it (by alias: `in`, `json`)."""
    schema = ProviderFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
