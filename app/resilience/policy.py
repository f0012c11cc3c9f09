"""`ProviderPolicy`: what protects one provider, and where each value comes from.

Three layers, later ones winning, each validated with the offending key named:

1. defaults: the `POLICY_*` settings (`Settings.policy_<field>`), the only place a default
   is written (`policy_defaults`);
2. the provider class: `policy_overrides = {"retries": 0, ...}` on a `BaseApiProvider`
   subclass;
3. the environment: `PROVIDER_POLICIES='{"weather": {"retries": 3}}'`
   (`Settings.provider_policies`).
"""

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.core.config import Settings
from app.resilience.breaker import BreakerConfig
from app.resilience.retry import RetryConfig


class ProviderPolicy(BaseModel):
    """Every field but `fallback_value` takes its default from a `POLICY_<FIELD>` setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_timeout_ms: int | None = Field(
        gt=0, description="Per-call deadline; the request's deadline still caps it."
    )
    connect_timeout_s: float | None = Field(gt=0, description="None: client's.")
    read_timeout_s: float | None = Field(gt=0, description="None: client's.")
    retries: int = Field(ge=0, le=10, description="Attempts after the first.")
    retry_base_delay_ms: int = Field(ge=0)
    retry_max_delay_ms: int = Field(ge=0)
    retry_non_idempotent: bool
    breaker_enabled: bool
    breaker_failure_rate: float = Field(gt=0, le=1)
    breaker_window: int = Field(ge=1)
    breaker_min_calls: int = Field(ge=1)
    breaker_open_ms: int = Field(ge=0)
    breaker_probes: int = Field(ge=1)
    rate_limit_per_s: float | None = Field(gt=0, description="None: no limit.")
    rate_limit_burst: int = Field(ge=1)
    max_concurrency: int | None = Field(ge=1, description="None: no bulkhead.")
    max_response_bytes: int = Field(ge=1)
    follow_redirects: Literal["never", "same_origin"]
    fallback: Literal["none", "static"]
    fallback_value: dict[str, Any] | None = None
    cache_ttl_s: float = Field(ge=0, description="How long an answer is served; 0: not.")
    cache_respect_headers: bool = Field(
        description="The upstream's Cache-Control and Expires decide, the TTL when they don't."
    )
    stale_if_error_s: float = Field(
        ge=0, description="How long past its freshness a cached answer stands in for a failure."
    )
    coalesce: bool = Field(description="Identical idempotent calls in flight share one.")
    hedge_after_ms: int | None = Field(gt=0, description="None: no hedged attempts.")
    hedge_after_percentile: float | None = Field(
        gt=0, lt=100, description="Hedge at this percentile of recent latency instead."
    )
    hedge_max: int = Field(ge=1, le=5, description="Extra attempts a hedged call may start.")

    @field_validator("fallback", mode="before")
    @classmethod
    def _moved(cls, value: Any) -> Any:
        if value == "cache":
            raise ValueError(
                "'cache' moved to the response cache: set stale_if_error_s (seconds a cached "
                "answer may stand in for a failure) instead"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "ProviderPolicy":
        if self.breaker_min_calls > self.breaker_window:
            raise ValueError("breaker_min_calls must not exceed breaker_window")
        if self.fallback == "static" and self.fallback_value is None:
            raise ValueError("fallback 'static' needs a fallback_value")
        if self.hedge_after_percentile is not None and self.hedge_after_ms is None:
            raise ValueError("hedge_after_percentile needs hedge_after_ms (the delay until then)")
        return self

    def breaker_config(self) -> BreakerConfig:
        return BreakerConfig(
            failure_rate=self.breaker_failure_rate,
            window=self.breaker_window,
            min_calls=self.breaker_min_calls,
            open_s=self.breaker_open_ms / 1000,
            probes=self.breaker_probes,
        )

    def retry_config(self) -> RetryConfig:
        return RetryConfig(
            retries=self.retries,
            base_delay_s=self.retry_base_delay_ms / 1000,
            max_delay_s=self.retry_max_delay_ms / 1000,
            non_idempotent=self.retry_non_idempotent,
        )


POLICY_FIELDS = tuple(ProviderPolicy.model_fields)
# The fields whose default is a `POLICY_<FIELD>` setting: all but the static fallback's value.
SETTING_FIELDS = tuple(field for field in POLICY_FIELDS if field != "fallback_value")


class PolicyError(ValueError):
    """A policy override is invalid; the message names the provider and the key."""


def check_overrides(where: str, overrides: Mapping[str, Any]) -> None:
    """Refuse unknown keys early, naming them and the valid ones."""
    unknown = sorted(set(overrides) - set(POLICY_FIELDS))
    if unknown:
        raise PolicyError(
            f"{where}: unknown policy key(s) {', '.join(map(repr, unknown))}; "
            f"valid keys: {', '.join(POLICY_FIELDS)}"
        )


def build_policy(
    name: str,
    defaults: Mapping[str, Any],
    class_overrides: Mapping[str, Any],
    env_overrides: Mapping[str, Any],
) -> ProviderPolicy:
    """Merge the three layers for provider `name`; errors name the provider and the key."""
    check_overrides(f"{name}.policy_overrides (class attribute)", class_overrides)
    check_overrides(f"PROVIDER_POLICIES[{name!r}]", env_overrides)
    try:
        return ProviderPolicy(**{**defaults, **class_overrides, **env_overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(policy)'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise PolicyError(f"policy of provider {name!r} is invalid: {problems}") from exc


def check_policy_names(configured: Iterable[str], known: Iterable[str]) -> None:
    """PROVIDER_POLICIES may only name registered providers (a typo would silently do nothing)."""
    unknown = sorted(set(configured) - set(known))
    if unknown:
        raise PolicyError(
            f"PROVIDER_POLICIES names unknown provider(s) {', '.join(map(repr, unknown))}; "
            f"valid names: {', '.join(sorted(known))}"
        )


def policy_defaults(settings: Settings) -> dict[str, Any]:
    """The `POLICY_*` settings as policy fields: every field but `fallback_value`."""
    return {field: getattr(settings, f"policy_{field}") for field in SETTING_FIELDS}


def validate_policy_settings(settings: Settings) -> None:
    """Check the `POLICY_*` defaults and every PROVIDER_POLICIES entry, at start-up.

    Errors name the setting (or the provider) and the key, never the other settings' values.
    """
    defaults = policy_defaults(settings)
    try:
        ProviderPolicy(**defaults)
    except ValidationError as exc:
        problems = "; ".join(
            f"POLICY_{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise PolicyError(problems) from None
    for name, values in settings.provider_policies.items():
        build_policy(name, defaults, {}, values)
