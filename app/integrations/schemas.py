"""Request and response shapes of the integration API (and of one provider call)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.core.errors import ErrorKind

MAX_TIMEOUT_MS = 120_000


class ExternalResponse(BaseModel):
    """The outcome of one provider call: data on success, a typed error otherwise."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "provider": "weather",
                    "success": True,
                    "data": {"city": "Seoul", "temperature_c": 21.5, "conditions": "clear"},
                    "error_message": None,
                    "response_time_ms": 12.4,
                    "is_validation_error": False,
                    "status_code": 200,
                    "error_kind": None,
                    "attempts": 1,
                }
            ]
        }
    )

    provider: str
    success: bool
    data: dict[str, Any] | None = Field(
        default=None,
        description="The upstream's JSON answer, always an object: a top-level array is "
        '`{"items": [...]}`, any other non-object value `{"value": ...}`. Also kept on '
        "validation errors, to show drift.",
    )
    error_message: str | None = Field(default=None, description="Credential-free summary.")
    response_time_ms: float
    is_validation_error: bool = False
    status_code: int | None = Field(default=None, description="The upstream's HTTP status.")
    error_kind: ErrorKind | None = None
    attempts: int = Field(
        default=1,
        description="Tries of the call (1 + retries); 0 when a policy refused it before any.",
    )
    stale: bool = Field(
        default=False,
        description="`data` is a fallback (static or the last good answer), shown beside the "
        "error; `success` stays false.",
    )
    retry_at: datetime | None = Field(
        default=None, description="When the upstream (or our rate limit) allows another call."
    )
    breaker_state: str | None = Field(
        default=None, description="The provider's circuit breaker after this call."
    )
    cache: Literal["hit", "miss", "stale"] | None = Field(
        default=None,
        description="The response cache: `hit` (served from it, no call), `miss` (called), "
        "`stale` (a kept answer shown beside the error); null when the provider does not cache.",
    )
    coalesced: bool = Field(
        default=False,
        description="This call shared an identical call in flight that another request started.",
    )
    won_attempt: int | None = Field(
        default=None,
        description="Which attempt (1-based, hedged attempts included) gave the answer.",
    )
    started_at: datetime = Field(exclude=True)
    # Stored on the call's row; the response carries it once, beside `request_id`.
    trace_id: str | None = Field(default=None, exclude=True)
    trace_sampled: bool = Field(default=False, exclude=True)  # exported: exemplars may name it


class FetchSummary(BaseModel):
    total: int
    succeeded: int
    failed: int
    duration_ms: float
    partial: bool = Field(
        default=False, description="Some provider failed; also the `X-Partial` header."
    )
    unmet: str | None = Field(
        default=None,
        description="Why `required` or `min_success` was not met (the answer is then 502/504).",
    )


class FetchResponse(BaseModel):
    """Every requested provider's result, in the order the providers were requested."""

    request_id: str
    trace_id: str | None = Field(
        default=None,
        description="The OpenTelemetry trace of this request (32 hex digits), also stored on "
        "every call-log row and sent upstream in `traceparent`; null when tracing is off.",
    )
    results: list[ExternalResponse]
    summary: FetchSummary
    status_code: int = Field(default=200, exclude=True, description="200, 502 or 504.")


def _json_integer(value: object) -> object:
    # Lax pydantic would take `true` as 1 and "500" as 500; JSON Schema's integer takes
    # neither (but does take 500.0, which pydantic accepts as an integral float).
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer")
    return value


# Constraints sit inside the Annotated so the JSON schema keeps them as real keywords.
PositiveJsonInt = Annotated[int, Field(gt=0), BeforeValidator(_json_integer)]
TimeoutMs = Annotated[int, Field(gt=0, le=MAX_TIMEOUT_MS), BeforeValidator(_json_integer)]


class FetchRequest(BaseModel):
    """Body of `POST /integrations/fetch`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"providers": ["weather", "exchange_rates"], "params": {"city": "Busan"}},
                {
                    "providers": ["weather", "repo_stats"],
                    "params": {"city": "Busan"},
                    "provider_params": {"repo_stats": {"repo": "octocat/hello-world"}},
                },
            ]
        },
    )

    providers: list[str] | None = Field(
        default=None, description="Providers to call; all registered providers when omitted."
    )
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Passed to every provider; each reads what it needs."
    )
    provider_params: dict[str, dict[str, str | int | float | bool]] = Field(
        default_factory=dict,
        description="Params for one provider only, by provider name; they win over `params` "
        "for that provider. In the GET query string: `<provider>.<param>=value` (counted with "
        "the other query params). Each provider's are held to MAX_PARAMS and MAX_PARAM_LENGTH "
        "like `params`; at most MAX_PROVIDERS_PER_REQUEST providers.",
        examples=[{"repo_stats": {"repo": "octocat/hello-world"}}],
    )
    timeout_ms: TimeoutMs | None = Field(
        default=None,
        description="Lowers the overall deadline; never raises it above the server's default.",
    )
    required: list[str] = Field(
        default_factory=list,
        description="Providers whose failure fails the request (502, or 504 on timeouts).",
    )
    min_success: PositiveJsonInt | None = Field(
        default=None, description="Quorum: fewer successes fail the request (502/504)."
    )


class ProviderInfo(BaseModel):
    """What a provider calls and how; never a credential."""

    name: str
    description: str
    method: str
    endpoint: str
    params: dict[str, str] = Field(description="Parameters the provider reads, with meanings.")
    response_model: str | None
    response_schema: dict[str, Any] | None
