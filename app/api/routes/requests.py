"""`GET /integrations/requests/{request_id}`: one fan-out with every call it made."""

from typing import Any

from fastapi import APIRouter, HTTPException, Path

from app.api.deps import SessionDep
from app.api.errors import DATABASE_RESPONSES
from app.queries.logs import fanout_rows
from app.queries.schemas import FanoutDetail

router = APIRouter(prefix="/integrations", tags=["observability"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No stored call has this request id (yet: rows are written behind)."},
    **DATABASE_RESPONSES,
}


@router.get("/requests/{request_id}", response_model=FanoutDetail, responses=_RESPONSES)
def get_request(
    session: SessionDep, request_id: str = Path(max_length=64, description="A fan-out's id.")
) -> FanoutDetail:
    """Return one fan-out: every stored call that carries this request id."""
    calls = fanout_rows(session, request_id)
    if not calls:
        # Not the id itself: an error never repeats what the client sent.
        raise HTTPException(
            404, "no calls stored for this request id; rows are written shortly after a fetch"
        )
    succeeded = sum(c.success for c in calls)
    return FanoutDetail(
        request_id=request_id,
        total=len(calls),
        succeeded=succeeded,
        failed=len(calls) - succeeded,
        started_at=min(c.created_at for c in calls),
        calls=calls,
    )
