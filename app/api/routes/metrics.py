"""`GET /metrics`: Prometheus text format from the app's own registry.

A scraper that accepts OpenMetrics (Prometheus does, with exemplar storage on) gets it, and
with it the exemplars: the trace id of a recent call beside the call counters and latency.
"""

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder

from app.observability.metrics import Metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Expose calls, latency histograms, breaker states and call-log gauges for Prometheus."""
    source: Metrics = request.app.state.metrics
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(source.registry), media_type=media_type)
