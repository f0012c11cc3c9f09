"""All settings in one place, read from the environment or `.env`.

Every field here is listed in `.env.example` and in docs/configuration.md.
"""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("data") / "integrations.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # --- database -------------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL. SQLite by default; postgresql://... uses psycopg 3.",
    )
    db_auto_migrate: bool = Field(
        default=True,
        description="Run `alembic upgrade head` at start-up. Turn off when deploys migrate.",
    )

    # --- fan-out ----------------------------------------------------------------------------
    request_timeout_ms: int = Field(
        default=5000,
        gt=0,
        le=120_000,
        description="Overall deadline of one fan-out; a request may only lower it.",
    )
    http_connect_timeout_s: float = Field(default=2.0, gt=0)
    http_read_timeout_s: float = Field(default=5.0, gt=0)
    http_max_connections: int = Field(
        default=1000,
        gt=0,
        description="Shared pool size; keep it at or above providers x concurrent fan-outs.",
    )
    http_keepalive_expiry_s: float = Field(default=30.0, gt=0)

    # --- admission control (app/resilience/admission.py) -------------------------------------
    admission_mode: Literal["adaptive", "static", "off"] = Field(
        default="adaptive",
        description="Bound on fan-outs in flight per worker: adaptive (from their latency, up "
        "to ADMISSION_MAX_IN_FLIGHT), static (exactly that) or off.",
    )
    admission_max_in_flight: int = Field(
        default=64, gt=0, description="Fan-outs in flight per worker (adaptive: the ceiling)."
    )
    admission_max_wait_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Longest a fan-out waits for a slot before 503 (less when its deadline "
        "leaves less room).",
    )
    admission_retry_after_s: int = Field(
        default=1, gt=0, le=3600, description="Retry-After of a shed request's 503."
    )
    admission_pace_shed: bool = Field(
        default=True,
        description="Read a shed connection's next request only after its Retry-After (the "
        "503 itself goes at once); off: a client that ignores Retry-After is refused at once.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A connection whose request head is not complete this long after its "
        "first byte (or after connecting) gets 408 and is closed.",
    )

    # --- demo providers and simulator -------------------------------------------------------
    demo_upstream_url: HttpUrl | None = Field(
        default=None,
        description="Where demo providers send requests. Unset: start the bundled simulator.",
    )
    demo_providers_enabled: bool = True
    providers_dir: Path | None = Field(
        default=Path("providers"),
        description="Provider files (one *.yaml per provider), validated at start-up; "
        "relative to the working directory, like the default database; empty: none.",
    )
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")
    simulator_latency_scale: float = Field(
        default=1.0, ge=0, description="Multiplies the simulated latencies; 0 answers at once."
    )
    simulator_error_rate: float = Field(default=0.03, ge=0, le=1)
    simulator_drift_rate: float = Field(default=0.25, ge=0, le=1)

    # --- call log writer ------------------------------------------------------------------
    log_batch_size: int = Field(default=500, gt=0, le=5000)
    log_flush_interval_ms: int = Field(default=200, gt=0)
    log_queue_max_rows: int = Field(default=100_000, gt=0)

    # --- call log durability (spool, strict/fast modes) --------------------------------------
    log_durability: Literal["strict", "fast"] = Field(
        default="strict",
        description="strict: respond once the rows are durable (journal, then database or "
        "spool); fast: respond at once, write soon after.",
    )
    log_spool_dir: Path = Field(
        default=Path("data") / "spool",
        description="Where rows go while the database is down or slow (one file per process).",
    )
    log_spool_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="Spool cap; reaching it raises the call-log alarm.",
    )
    log_commit_timeout_ms: int = Field(
        default=90,
        gt=0,
        le=10_000,
        description="How long a batch waits for its commit before it is spooled instead "
        "(fast mode: at least 1 s).",
    )
    log_strict_max_wait_ms: int = Field(
        default=5000,
        gt=0,
        description="Strict mode: longest a response waits for its rows; then 503.",
    )

    # --- resilience policies ----------------------------------------------------------------
    # The one place each policy default is written: every provider's `ProviderPolicy`
    # (app/resilience/policy.py) starts from these, one per field; a provider class
    # (`policy_overrides = {...}`) and PROVIDER_POLICIES override them. `create_app` checks
    # them (and PROVIDER_POLICIES) with the policy model's rules, naming the bad key.
    policy_call_timeout_ms: int | None = None
    policy_connect_timeout_s: float | None = None
    policy_read_timeout_s: float | None = None
    policy_retries: int = 2
    policy_retry_base_delay_ms: int = 50
    policy_retry_max_delay_ms: int = 2000
    policy_retry_non_idempotent: bool = False
    policy_breaker_enabled: bool = True
    policy_breaker_failure_rate: float = 0.5
    policy_breaker_window: int = 20
    policy_breaker_min_calls: int = 10
    policy_breaker_open_ms: int = 30_000
    policy_breaker_probes: int = 2
    policy_rate_limit_per_s: float | None = None
    policy_rate_limit_burst: int = 10
    policy_max_concurrency: int | None = 50
    policy_max_response_bytes: int = 1_048_576
    policy_follow_redirects: Literal["never", "same_origin"] = "never"
    policy_fallback: Literal["none", "static"] = "none"
    policy_cache_ttl_s: float = 0.0
    policy_cache_respect_headers: bool = False
    policy_stale_if_error_s: float = 0.0
    policy_coalesce: bool = True
    policy_hedge_after_ms: int | None = None
    policy_hedge_after_percentile: float | None = None
    policy_hedge_max: int = 1
    provider_policies: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-provider overrides as JSON: {"weather": {"retries": 3}}.',
    )

    # --- shared state (several workers or replicas) ------------------------------------------
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://host:6379/0: quotas, breakers, client limits, the response cache "
        "and metrics shared by every worker and replica that points at it. Unset: per process.",
    )
    state_prefix: str = Field(
        default="fanout",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Prefix of every Redis key: two deployments on one Redis use two prefixes.",
    )
    redis_timeout_ms: int = Field(
        default=50,
        gt=0,
        le=5000,
        description="Bound of every Redis operation; past it the worker uses local state.",
    )
    redis_reconnect_ms: int = Field(
        default=500,
        gt=0,
        le=60_000,
        description="How often a worker on local state tries Redis again.",
    )

    # --- response cache --------------------------------------------------------------------
    cache_max_bytes: int = Field(
        default=67_108_864,
        gt=0,
        description="Bytes the in-memory response cache holds before dropping the least used.",
    )

    # --- observability ----------------------------------------------------------------------
    dashboard_refresh_s: int = Field(
        default=10, ge=1, le=3600, description="How often /dashboard refreshes itself."
    )
    trace_url_template: str | None = Field(
        default=None,
        description="Where the dashboard links a request's trace: an http(s) URL with "
        "{trace_id}, e.g. http://jaeger:16686/trace/{trace_id}. Unset: no link.",
    )

    # --- security ---------------------------------------------------------------------------
    environment: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start without API_KEYS.",
    )
    # Checked by `create_app` (app/security/api_keys.py), which names the bad entry.
    api_keys: list[dict[str, Any]] = Field(
        default_factory=list,
        description="JSON list of {name, sha256, providers?}; `python -m app keys new` makes one."
        " Empty: only loopback clients may call (refused when ENVIRONMENT=production).",
    )
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS, comma-separated; none."
    )
    rate_limit_per_s: float = Field(
        default=10.0, ge=0, description="Requests a second per API key; 0 turns the limit off."
    )
    rate_limit_burst: int = Field(default=20, gt=0, description="Requests a key may save up.")
    max_body_bytes: int = Field(default=65_536, gt=0, description="Larger bodies get 413.")
    max_providers_per_request: int = Field(default=50, gt=0)
    max_params: int = Field(default=20, gt=0, description="Provider params per request.")
    max_param_length: int = Field(default=512, gt=0, description="Of each param name and value.")
    redact_extra_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Key names redacted on top of the built-in deny-list, comma-separated.",
    )
    # Provider credentials: every SecretStr setting is also scrubbed wherever it appears.
    demo_api_key: SecretStr | None = Field(
        default=None, description="Sent by the demo providers as X-Api-Key when set."
    )

    @field_validator("providers_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_allow_origins", "redact_extra_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    # --- misc -----------------------------------------------------------------------------
    log_level: str = "INFO"
    gc_freeze_startup_heap: bool = Field(
        default=True,
        description="Take the objects built at start-up out of every garbage collection.",
    )
    gc_gen0_threshold: int = Field(
        default=20_000,
        ge=0,
        description="Allocations between young garbage collections; 0 keeps Python's 700.",
    )
    gil_switch_interval_ms: float = Field(
        default=0.5,
        ge=0,
        le=100,
        description="How soon a thread holding the interpreter lets another run (the event "
        "loop, when the call-log writer works); 0 keeps Python's 5 ms.",
    )

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str) -> str:
        # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("trace_url_template")
    @classmethod
    def _trace_link(cls, template: str | None) -> str | None:
        if not template:
            return None
        if not template.startswith(("http://", "https://")) or "{trace_id}" not in template:
            raise ValueError(
                "must be an http(s) URL containing {trace_id}, "
                "e.g. http://jaeger:16686/trace/{trace_id}"
            )
        return template


@lru_cache
def get_settings() -> Settings:
    return Settings()
