"""Liveness (`/healthz`) and readiness (`/readyz`: the database, the call-log path, the load
and, with `REDIS_URL`, the shared state).

`/readyz` says `"status": "shedding"` (still 200) while admission control refuses fan-outs:
the replica is busy, not dead, and a load balancer that takes it out would only move the
overload to the others. Dead or broken (a check failed) is 503 with `"status": "not ready"`.
For the same reason a worker whose Redis is away stays 200 with `"degraded": true`.
"""

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

router = APIRouter(tags=["health"])


class CheckResult(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    """`ok` is true when every check passed; each check says what failed.

    `degraded` is true while the service still serves but on less than it should: Redis is
    away, so this worker counts quotas and breakers on its own with its share of each quota.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": False,
                    "status": "not ready",
                    "checks": {
                        "database": {"ok": True, "detail": "reachable"},
                        "call_log": {"ok": False, "detail": "120 rows dropped"},
                    },
                }
            ]
        }
    )

    ok: bool
    status: Literal["ok", "shedding", "not ready"]
    degraded: bool = False
    checks: dict[str, CheckResult]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Report that the process is alive."""
    return {"status": "ok"}


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Readiness, "description": "A check failed; its `detail` says which and why."}
}


@router.get("/readyz", response_model=Readiness, responses=_NOT_READY)
def readyz(request: Request) -> JSONResponse:
    """Check that the database answers and the call log can still make rows durable."""
    ready = readiness(request.app.state, _check_database(request))
    return JSONResponse(ready.model_dump(), status_code=200 if ready.ok else 503)


def readiness(state: Any, database: CheckResult) -> Readiness:
    """The answer of `/readyz` from the app's state and the database check's result."""
    checks = {"database": database, "call_log": _check_call_log(state.log_writer)}
    ok = all(c.ok for c in checks.values())
    admission = getattr(state, "admission", None)
    shedding = admission is not None and admission.shedding()
    if admission is not None:
        stats = admission.stats()
        checks["admission"] = CheckResult(
            ok=True,
            detail=f"{'shedding' if shedding else 'admitting'}: {stats.in_flight} fan-outs "
            f"in flight (limit {stats.limit}), {stats.shed_full + stats.shed_deadline} shed",
        )
    degraded = False
    shared = getattr(state, "shared_state", None)
    if shared is not None:
        # Degraded is still ready: taking every replica out because Redis is away would turn
        # a loss of accuracy into an outage.
        shared_status = shared.status()
        degraded = shared_status.degraded
        checks["shared_state"] = CheckResult(ok=True, detail=shared_status.detail)
    status: Literal["ok", "shedding", "not ready"] = (
        "not ready" if not ok else "shedding" if shedding else "ok"
    )
    return Readiness(ok=ok, status=status, degraded=degraded, checks=checks)


def _check_database(request: Request) -> CheckResult:
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        # The class only: driver messages can carry the host, user or password of the URL.
        return CheckResult(ok=False, detail=f"unreachable ({type(exc).__name__})")
    return CheckResult(ok=True, detail="reachable")


def _check_call_log(writer: Any) -> CheckResult:
    health = getattr(writer, "health", None)
    if callable(health):
        report = health()
        if report.healthy:
            return CheckResult(ok=True, detail="rows are being made durable")
        return CheckResult(ok=False, detail="; ".join(report.reasons) or "unhealthy")
    # Writers without health(): judge from the counters every writer has.
    stats = writer.stats()
    if stats.dropped:
        return CheckResult(ok=False, detail=f"{stats.dropped} rows dropped")
    return CheckResult(ok=True, detail=f"{stats.queued} rows queued")
