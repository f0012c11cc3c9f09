"""Response models of the logs, stats and requests endpoints (with examples)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_LOG_EXAMPLE: dict[str, Any] = {
    "id": 1042,
    "request_id": "5f0c3c7e9b0a4a55a3c1f0d4d7f3c2aa",
    "provider": "stock_quotes",
    "success": False,
    "is_validation_error": True,
    "response_time_ms": 37.5,
    "status_code": 200,
    "error_kind": "validation_error",
    "attempts": 1,
    "error_message": "response does not match StockQuotes: quotes.0.price: Input should be a "
    "valid number",
    "data": {"quotes": [{"symbol": "ACME", "price": "n/a"}]},
    "breaker_state": "closed",
    "stale": False,
    "created_at": "2026-11-22T02:42:50.123456Z",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
}


class LogRow(BaseModel):
    """One stored provider call; `data` is returned exactly as stored."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LOG_EXAMPLE]})

    id: int
    request_id: str | None
    provider: str
    success: bool
    is_validation_error: bool
    response_time_ms: float
    status_code: int | None
    error_kind: str | None
    attempts: int
    error_message: str | None
    data: dict[str, Any] | list[Any] | None
    breaker_state: str | None = Field(
        description="The provider's circuit breaker after the call; null without a breaker."
    )
    stale: bool = Field(description="`data` is a fallback, not this call's answer.")
    created_at: datetime = Field(description="When the call started, UTC.")
    cache: str | None = Field(default=None, description="hit, miss, stale; null: no cache.")
    coalesced: bool = Field(default=False, description="Shared another request's call.")
    won_attempt: int | None = Field(default=None, description="The attempt that answered.")
    trace_id: str | None = Field(
        default=None,
        description="The request's OpenTelemetry trace (32 hex digits); null when tracing was off.",
    )


class LogPage(BaseModel):
    """Newest first. Pass `next_cursor` back as `cursor` for the next (older) page."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_LOG_EXAMPLE], "next_cursor": "1795348970123456-1042"}]
        }
    )

    items: list[LogRow]
    next_cursor: str | None = Field(description="Absent on the last page.")


class FanoutDetail(BaseModel):
    """Every stored call of one fan-out, in the order they started."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": _LOG_EXAMPLE["request_id"],
                    "total": 1,
                    "succeeded": 0,
                    "failed": 1,
                    "started_at": _LOG_EXAMPLE["created_at"],
                    "calls": [_LOG_EXAMPLE],
                }
            ]
        }
    )

    request_id: str
    total: int
    succeeded: int
    failed: int
    started_at: datetime
    calls: list[LogRow]


class LastError(BaseModel):
    at: datetime
    error_kind: str | None
    status_code: int | None
    message: str | None


class ProviderStats(BaseModel):
    provider: str
    calls: int
    succeeded: int
    success_rate: float | None = Field(description="0..1 over the window; null without calls.")
    validation_error_rate: float | None = Field(description="0..1; null without calls.")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors_by_kind: dict[str, int]
    last_error: LastError | None = Field(description="The newest failure inside the window.")
    breaker_state: str | None = Field(
        default=None, description="closed, half_open or open, when the provider has a breaker."
    )
    cache: dict[str, int] | None = Field(
        default=None,
        description="Response cache and coalescing counts (hit, miss, stale, coalesced) of this "
        "replica since it started, whatever the window; null when both are off.",
    )


class SeriesPoint(BaseModel):
    start: datetime
    calls: int
    failures: int
    p95_ms: float | None


class StatsResponse(BaseModel):
    """Per-provider figures over one window, and a bucketed series for charts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window_s": 3600,
                    "since": "2026-11-22T01:42:50Z",
                    "until": "2026-11-22T02:42:50Z",
                    "bucket_s": 60,
                    "percentiles": "exact",
                    "providers": [
                        {
                            "provider": "weather",
                            "calls": 1200,
                            "succeeded": 1164,
                            "success_rate": 0.97,
                            "validation_error_rate": 0.0,
                            "p50_ms": 41.0,
                            "p95_ms": 98.2,
                            "p99_ms": 117.5,
                            "errors_by_kind": {"http_status": 36},
                            "last_error": {
                                "at": "2026-11-22T02:41:07Z",
                                "error_kind": "http_status",
                                "status_code": 503,
                                "message": "upstream answered HTTP 503",
                            },
                            "breaker_state": None,
                        }
                    ],
                    "series": [
                        {"start": "2026-11-22T02:41:00Z", "calls": 20, "failures": 1, "p95_ms": 97}
                    ],
                }
            ]
        }
    )

    window_s: int
    since: datetime
    until: datetime
    bucket_s: int
    percentiles: Literal["exact", "histogram"] = Field(
        description="How p50/p95/p99 and the series' p95 were computed. `exact`: "
        "`percentile_cont` over every latency in the window (windows of 1 hour or less). "
        "`histogram`: from 5-minute rollups' latency histograms (longer windows), within 4 % "
        "of the exact value (relative; 0.104 ms absolute under 0.104 ms). Calls, rates, "
        "error kinds and the last error are exact either way."
    )
    providers: list[ProviderStats]
    series: list[SeriesPoint] = Field(description="Every bucket of the window, oldest first.")
