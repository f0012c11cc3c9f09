"""`ApiIntegrationManager`: call many providers at once, under one deadline, log every call."""

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from app.core import tracing
from app.core.errors import ErrorKind
from app.core.ids import new_request_id
from app.http import HttpClient
from app.integrations.base import BaseApiProvider
from app.integrations.quorum import judge
from app.integrations.schemas import ExternalResponse, FetchResponse, FetchSummary
from app.resilience.deadline import Deadline

logger = logging.getLogger(__name__)

# How long cancelled calls get to unwind before we answer without them.
_CANCEL_GRACE_S = 0.1
# How long past the deadline providers get to end themselves before they are cancelled.
_OVERRUN_S = 0.05


class UnknownProviderError(LookupError):
    """A client asked for providers we do not have; the message lists the valid names."""

    def __init__(self, unknown: Sequence[str], valid: Sequence[str]) -> None:
        self.unknown = list(unknown)
        self.valid = list(valid)
        names = ", ".join(repr(n) for n in self.unknown)
        super().__init__(f"unknown provider(s) {names}; valid names: {', '.join(self.valid)}")


class CallLogSink(Protocol):
    async def record(self, request_id: str, results: Sequence[ExternalResponse]) -> None:
        """Log one fan-out. May wait (strict durability) but never blocks the event loop."""
        ...


class ApiIntegrationManager:
    def __init__(
        self,
        providers: Sequence[BaseApiProvider],
        log_sink: CallLogSink | None,
        *,
        default_timeout_ms: int,
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self._log_sink = log_sink
        self.default_timeout_ms = default_timeout_ms

    @property
    def names(self) -> list[str]:
        return list(self._providers)

    @property
    def providers(self) -> list[BaseApiProvider]:
        return list(self._providers.values())

    def resolve(self, requested: Sequence[str] | None) -> list[str] | None:
        """Deduplicate keeping the caller's order; refuse unknown names all in one error."""
        if not requested:
            return None
        names = list(dict.fromkeys(requested))
        unknown = [n for n in names if n not in self._providers]
        if unknown:
            raise UnknownProviderError(unknown, self.names)
        return names

    def param_problems(
        self,
        names: Sequence[str] | None,
        params: Mapping[str, Any],
        provider_params: Mapping[str, Mapping[str, Any]],
    ) -> list[tuple[str, str, str]]:
        """(provider, parameter, what to fix) for every value a selected provider refuses
        before any call: a missing required parameter, a path value that would change the
        target, a value of the wrong type."""
        selected = [self._providers[n] for n in names] if names else self.providers
        return [
            (provider.name, param, message)
            for provider in selected
            for param, message in provider.check_params(
                params_for(params, provider_params, provider.name)
            )
        ]

    def deadline_ms(self, requested_ms: int | None) -> int:
        """A request may lower the server's deadline, never raise it."""
        if requested_ms is None:
            return self.default_timeout_ms
        return min(requested_ms, self.default_timeout_ms)

    async def fetch_all(
        self,
        client: HttpClient,
        params: Mapping[str, Any],
        *,
        names: Sequence[str] | None = None,
        timeout_ms: int | None = None,
        request_id: str | None = None,
        required: Sequence[str] = (),
        min_success: int | None = None,
        provider_params: Mapping[str, Mapping[str, Any]] | None = None,
        use_cache: bool = True,
    ) -> FetchResponse:
        """Run the named providers (all when None) concurrently; results keep their order.

        Each provider gets `params` with its own `provider_params` entry on top. `required`
        and `min_success` only judge the outcome (`quorum.judge`); `use_cache=False` makes
        every provider call its upstream (answers are still stored). With tracing on, the
        fan-out is a span (a child of the request's) and each provider call one below it.
        """
        own = provider_params or {}
        request_id = request_id or new_request_id()
        tracer = tracing.tracer
        if tracer is None:
            return await self._fetch_all(
                client,
                params,
                own,
                names,
                timeout_ms,
                request_id,
                required,
                min_success,
                None,
                use_cache,
            )
        with tracer.start_as_current_span(
            "fan-out",
            attributes={"fanout.request_id": request_id},
            record_exception=False,
            set_status_on_exception=False,  # an exception's text may hold what a client sent
        ) as span:
            trace_id = tracing.trace_id_of(span)
            response = await self._fetch_all(
                client,
                params,
                own,
                names,
                timeout_ms,
                request_id,
                required,
                min_success,
                trace_id,
                use_cache,
            )
            summary = response.summary
            span.set_attributes(
                {
                    "fanout.providers": summary.total,
                    "fanout.succeeded": summary.succeeded,
                    "fanout.failed": summary.failed,
                }
            )
            return response

    async def _fetch_all(
        self,
        client: HttpClient,
        params: Mapping[str, Any],
        own: Mapping[str, Mapping[str, Any]],
        names: Sequence[str] | None,
        timeout_ms: int | None,
        request_id: str,
        required: Sequence[str],
        min_success: int | None,
        trace_id: str | None,
        use_cache: bool,
    ) -> FetchResponse:
        selected = [self._providers[n] for n in names] if names else self.providers
        deadline_ms = self.deadline_ms(timeout_ms)
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        # Each provider ends itself at this deadline (its policies get to report and fall back);
        # cancelling it afterwards is the backstop.
        deadline = Deadline.after(
            deadline_ms, blames_upstream=deadline_ms >= self.default_timeout_ms
        )
        tasks = [
            asyncio.create_task(
                p.execute(
                    client,
                    params_for(params, own, p.name),
                    request_id=request_id,
                    deadline=deadline,
                    use_cache=use_cache,
                )
            )
            for p in selected
        ]
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=deadline_ms / 1000 + _OVERRUN_S)
        finally:
            # Also runs when the client goes away and this coroutine is cancelled.
            pending = [t for t in tasks if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=_CANCEL_GRACE_S)
        elapsed_ms = (time.perf_counter() - start) * 1000
        results = [
            _result_of(task, provider, deadline_ms, elapsed_ms, started_at)
            for task, provider in zip(tasks, selected, strict=True)
        ]
        if trace_id is not None:
            for result in results:
                # Calls the manager ended itself (cancelled at the deadline) made no span.
                if result.trace_id is None:
                    result.trace_id = trace_id
        if self._log_sink is not None:
            await self._log_sink.record(request_id, results)
        succeeded = sum(r.success for r in results)
        verdict = judge(results, required, min_success)
        return FetchResponse.model_construct(
            request_id=request_id,
            trace_id=trace_id,
            results=results,
            summary=FetchSummary.model_construct(
                total=len(results),
                succeeded=succeeded,
                failed=len(results) - succeeded,
                duration_ms=round(elapsed_ms, 3),
                partial=succeeded < len(results),
                unmet=verdict.unmet,
            ),
            status_code=verdict.status_code,
        )


def params_for(
    params: Mapping[str, Any], provider_params: Mapping[str, Mapping[str, Any]], name: str
) -> Mapping[str, Any]:
    """The shared params with `name`'s own on top (the same mapping when it has none)."""
    own = provider_params.get(name)
    return {**params, **own} if own else params


def _result_of(
    task: "asyncio.Task[ExternalResponse]",
    provider: BaseApiProvider,
    deadline_ms: int,
    elapsed_ms: float,
    started_at: datetime,
) -> ExternalResponse:
    if task.done() and not task.cancelled():
        exc = task.exception()
        if exc is None:
            return task.result()
        # execute() maps every Exception; reaching here means a bug in the template itself.
        logger.error("provider %s escaped its template", provider.name, exc_info=exc)
        kind, message = ErrorKind.PROVIDER_ERROR, type(exc).__name__
    else:
        kind, message = (
            ErrorKind.TIMEOUT,
            f"no answer within the request deadline of {deadline_ms} ms",
        )
    return ExternalResponse.model_construct(
        provider=provider.name,
        success=False,
        data=None,
        error_message=message,
        response_time_ms=round(elapsed_ms, 3),
        is_validation_error=False,
        status_code=None,
        error_kind=kind,
        attempts=1,
        started_at=started_at,
    )
