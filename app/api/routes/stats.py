"""`GET /integrations/stats`: per-provider figures over a window, and a series for charts."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import ManagerDep, SessionDep
from app.api.errors import DATABASE_RESPONSES
from app.api.names import resolve_names, split_names
from app.api.routes.logs import PROVIDER_AT, IsoDateTime
from app.observability.runtime_metrics import breaker_state, cache_counts
from app.queries.logs import as_utc
from app.queries.rollups import rollup_window, uses_rollup
from app.queries.schemas import ProviderStats, StatsResponse
from app.queries.stats import (
    PERCENTILES,
    ProviderFigures,
    bucket_seconds,
    provider_figures,
    series,
)

router = APIRouter(prefix="/integrations", tags=["observability"])

Window = Literal["15m", "1h", "6h", "24h", "7d"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WINDOW_SECONDS: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800}


@router.get("/stats", response_model=StatsResponse, responses=DATABASE_RESPONSES)
def get_stats(
    session: SessionDep,
    manager: ManagerDep,
    window: Annotated[Window, Query(description="How far back from `until`.")] = "1h",
    provider: Annotated[
        list[str] | None, Query(description="Only these providers (repeat or commas).")
    ] = None,
    until: Annotated[
        IsoDateTime | None,
        Query(description="End of the window (exclusive); default now, UTC."),
    ] = None,
) -> StatsResponse:
    """Per provider: calls, success and validation-error rates, p50/p95/p99, errors by kind.

    Windows over 1 hour read 5-minute rollups: percentiles then come from a histogram (see
    `percentiles` in the response); every count stays exact.
    """
    window_s = WINDOW_SECONDS[window]
    # Nothing was logged before 1970; clamping also keeps `end - window` from overflowing.
    end = max(as_utc(until) if until is not None else datetime.now(UTC), _EPOCH)
    start = max(end - timedelta(seconds=window_s), _EPOCH)
    names = resolve_names(manager, split_names(provider, PROVIDER_AT), PROVIDER_AT)
    bucket_s = bucket_seconds(window_s)
    from_rollup = uses_rollup(window_s, bucket_s)
    if from_rollup:
        found, points = rollup_window(session, start, end, bucket_s, names)
    else:
        found = provider_figures(session, start, end, names)
        points = series(session, start, end, bucket_s, names)
    figures = {f.provider: f for f in found}
    registered = {p.name: p for p in manager.providers}
    # Registered providers without calls still get a row, so a silent one stands out.
    for name in names or registered:
        if name in registered and name not in figures:
            figures[name] = ProviderFigures(name, 0, 0, 0, {}, [None] * len(PERCENTILES))
    return StatsResponse(
        window_s=window_s,
        since=start,
        until=end,
        bucket_s=bucket_s,
        percentiles="histogram" if from_rollup else "exact",
        providers=[
            _provider_stats(f, registered.get(f.provider))
            for f in sorted(figures.values(), key=lambda f: f.provider)
        ],
        series=points,
    )


def _provider_stats(f: ProviderFigures, provider: object) -> ProviderStats:
    p50, p95, p99 = (None if v is None else round(v, 3) for v in f.percentiles)
    return ProviderStats(
        provider=f.provider,
        calls=f.calls,
        succeeded=f.succeeded,
        success_rate=round(f.succeeded / f.calls, 4) if f.calls else None,
        validation_error_rate=round(f.validation_errors / f.calls, 4) if f.calls else None,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        errors_by_kind=f.errors_by_kind,
        last_error=f.last_error,
        breaker_state=breaker_state(provider),
        cache=cache_counts(provider),
    )
