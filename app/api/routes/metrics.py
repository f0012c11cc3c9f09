"""`GET /metrics`: Prometheus text format from the app's own registry."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.observability.metrics import Metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Expose calls, latency histograms, breaker states and call-log gauges for Prometheus."""
    source: Metrics = request.app.state.metrics
    return Response(generate_latest(source.registry), media_type=CONTENT_TYPE_LATEST)
