"""`GET /metrics`: Prometheus text format from the app's own registry.

A scraper that accepts OpenMetrics (Prometheus does, with exemplar storage on) gets it, and
with it the exemplars: the trace id of a recent call beside the call counters and latency.
With `REDIS_URL`, the answer holds every live worker's series too, labelled `worker`, in the
Prometheus text format (the merge reads the text format, which carries no exemplars).
"""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from app.observability.metrics import Metrics
from app.observability.shared_metrics import merge, published

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Expose calls, latency histograms, breaker states and call-log gauges for Prometheus."""
    source: Metrics = request.app.state.metrics
    shared = getattr(request.app.state, "shared_state", None)
    if shared is None:
        encode, media_type = choose_encoder(request.headers.get("accept", ""))
        return Response(await run_in_threadpool(encode, source.registry), media_type=media_type)
    own = await run_in_threadpool(source.exposition)
    expositions = {shared.worker_id: own, **await published(shared)}
    body = await run_in_threadpool(merge, expositions)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
