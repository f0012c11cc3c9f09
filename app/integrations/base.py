"""`BaseApiProvider`: the template every external API plugs into.

A provider knows its endpoint, its parameters and its response shape, and implements only
`_fetch`. Timing, error capture, validation and the resilience policies (`app.resilience`)
live once, in `execute`. Credentials are declared by name (`secrets = {"token": "GITHUB_TOKEN"}`)
and read with `self.secret("token")`; an `auth` object (`app.integrations.auth`) adds them to
every `request_json`.
"""

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import orjson
from opentelemetry.trace import Span, get_current_span
from pydantic import BaseModel, ValidationError

from app.core import tracing
from app.core.config import Settings
from app.core.errors import (
    ErrorKind,
    ProviderCallError,
    UpstreamStatusError,
    summarize_validation_error,
)
from app.http import CallState, HttpClient, current_call
from app.integrations import secrets
from app.integrations.auth import Auth
from app.integrations.schemas import ExternalResponse, ProviderInfo
from app.integrations.sending import JsonRequests, as_object
from app.integrations.spans import SpanUrls, end_call_span, end_cancelled, traced_attempt
from app.resilience.deadline import Deadline
from app.resilience.policy import ProviderPolicy, build_policy, policy_defaults
from app.resilience.runner import Outcome, PolicyRunner
from app.resilience.shared_runner import SharedPolicyRunner
from app.security.redaction import redact_data, redact_text, redact_url
from app.state import StateBackend

Params = Mapping[str, Any]


class BaseApiProvider(JsonRequests, ABC):
    """One external API. Subclass it in a module of `app.integrations.providers`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    method: ClassVar[str] = "GET"
    response_model: ClassVar[type[BaseModel] | None] = None
    params_doc: ClassVar[dict[str, str]] = {}
    # Overrides of this provider's `ProviderPolicy` defaults, e.g. {"retries": 0}; the
    # environment (PROVIDER_POLICIES) still wins over them.
    policy_overrides: ClassVar[dict[str, Any]] = {}
    # Credentials by key: an environment variable's name or `file:/path` (`app.integrations.
    # secrets`). Resolved when the provider is built; a missing one stops start-up, unless the
    # provider is `optional`: then `create_app` leaves it out with a WARNING.
    secrets: ClassVar[dict[str, str]] = {}
    optional: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._secrets = secrets.resolve_all(self.name, self.secrets)
        # Set by a provider that authenticates with a scheme of `app.integrations.auth`.
        self.auth: Auth | None = None
        self.policy = build_policy(
            self.name,
            policy_defaults(settings),
            self.policy_overrides,
            settings.provider_policies.get(self.name, {}),
        )
        self.runner: PolicyRunner | SharedPolicyRunner = PolicyRunner(
            self.name, self.policy, self.method
        )
        self._timeout = _policy_timeout(self.policy, settings)
        # Read on every call: plain attributes rather than the policy model's.
        self._max_bytes = self.policy.max_response_bytes
        self._redirects = self.policy.follow_redirects == "same_origin"
        self._param_names: tuple[str, ...] | None = None
        self._span_name = f"provider {self.name}"
        self._span_url = SpanUrls()  # how its attempts' spans show the URLs asked

    @classmethod
    def preflight(cls, settings: Settings) -> None:
        """Resolve every secret this provider needs, or raise `MissingSecretError` naming it.

        Run by `create_app` before anything starts (an `optional` provider is left out).
        """
        secrets.resolve_all(cls.name, cls.secrets)

    def secret(self, key: str) -> str:
        """The resolved value of the secret declared as `key` in `secrets`."""
        return self._secrets[key]

    def check_params(self, params: Params) -> list[tuple[str, str]]:
        """Parameter mistakes found before any call, as (parameter, what to fix); none here.

        The fan-out refuses a request with any of them as a 422 before calling anything.
        """
        return []

    def share_state(self, state: StateBackend) -> None:
        """Keep this provider's breaker, quota and fallback cache in `state` (`REDIS_URL`)."""
        self.runner = SharedPolicyRunner(self.name, self.policy, self.method, state=state)

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The URL this provider calls, for the providers listing (no credentials)."""

    def parameters(self) -> dict[str, str]:
        """Parameter names this provider reads, with what they mean."""
        return dict(self.params_doc)

    def info(self) -> ProviderInfo:
        model = self.response_model
        return ProviderInfo(
            name=self.name,
            description=self.description,
            method=self.method,
            endpoint=redact_url(self.endpoint),
            params=self.parameters(),
            response_model=model.__name__ if model else None,
            response_schema=model.model_json_schema() if model else None,
        )

    @abstractmethod
    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        """Call the API and return its JSON object. Raise freely: `execute` maps it."""

    @staticmethod
    def parse_json_object(response: httpx.Response) -> dict[str, Any]:
        """A non-2xx status or a body that is not a JSON object becomes a typed error."""
        if not response.is_success:
            raise UpstreamStatusError(
                response.status_code, response.reason_phrase, response.headers.get("retry-after")
            )
        return _json_object(orjson.loads(response.content))

    async def get_json(
        self,
        client: HttpClient,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """GET a JSON object, streamed under the policy's size cap and redirect rule.

        The client chooses its path (`HttpClient.fetch_json`); this adds the policy's limits
        and the rule that a provider's answer is a JSON object.
        """
        payload = await client.fetch_json(
            url,
            params=params,
            headers=headers,
            timeouts=self._timeout,
            limit=self._max_bytes,
            same_origin_redirects=self._redirects,
        )
        # orjson makes a plain dict of every JSON object: no isinstance needed.
        if type(payload) is not dict:
            return as_object(payload)
        return payload

    def _check_response(self, data: dict[str, Any]) -> None:
        """Raise when `data` does not match the declared shape (the response model here)."""
        if self.response_model is not None:
            self.response_model.model_validate(data)

    async def execute(
        self,
        client: HttpClient,
        params: Params,
        *,
        request_id: str,
        deadline: Deadline | None = None,
    ) -> ExternalResponse:
        """Template method: run `_fetch` under the policies, time it, never raise (but cancel).

        `deadline` is the request's (on `time.monotonic()`); no attempt outlives it.
        """
        state = CallState(request_id=request_id)
        token = current_call.set(state)
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        # What the fallback cache keys an answer by: the parameters this provider reads.
        names = self._param_names
        if names is None:
            names = self._param_names = tuple(self.parameters())
        tracer = tracing.tracer
        span: Span | None = None
        unsampled = None
        if tracer is not None:
            current = get_current_span()
            if current.get_span_context().is_valid and not current.is_recording():
                # The request was not sampled, so no span below it would be: skip making them,
                # and name the request's span upstream (its trace id, sampled flag off).
                unsampled = state.span = current
        if tracer is None or unsampled is not None:
            attempt = lambda: self._attempt(client, params)  # noqa: E731
        else:
            # A child of the current span (the fan-out's); each attempt is a child of this one.
            span = tracer.start_span(self._span_name, attributes={"fanout.provider": self.name})
            parent = tracing.child_context(span)
            attempt = lambda: traced_attempt(  # noqa: E731
                lambda: self._attempt(client, params),
                provider=self.name,
                method=self.method,
                state=state,
                tracer=tracer,
                parent=parent,
                show_url=self._span_url,
            )
        try:
            run = await self.runner.run(attempt, deadline, params, names)
        except BaseException:
            if span is not None:
                end_cancelled(span)
            raise
        finally:
            current_call.reset(token)
        elapsed_ms = (time.perf_counter() - start) * 1000
        outcome = run.outcome
        kind, message, data = outcome.kind, outcome.message, outcome.data
        keep = kind is None or run.stale or kind is ErrorKind.VALIDATION_ERROR
        status_code = outcome.status_code or (state.status_code if run.attempts else None)
        trace_id, sampled = None, False
        if unsampled is not None:
            trace_id = tracing.trace_id_of(unsampled)
        if span is not None:
            trace_id = tracing.trace_id_of(span)
            sampled = span.get_span_context().trace_flags.sampled
            end_call_span(span, kind, status_code, run.attempts, run.stale, run.breaker_state)
        return ExternalResponse.model_construct(
            provider=self.name,
            success=kind is None,
            # The one redaction step for what is returned and stored (after validation).
            data=redact_data(data) if keep else None,
            error_message=redact_text(message) if message else None,
            response_time_ms=round(elapsed_ms, 3),
            is_validation_error=kind is ErrorKind.VALIDATION_ERROR,
            status_code=status_code,
            error_kind=kind,
            attempts=run.attempts,
            started_at=started_at,
            stale=run.stale,
            retry_at=run.retry_at,
            breaker_state=run.breaker_state,
            trace_id=trace_id,
            trace_sampled=sampled,
        )

    async def _attempt(self, client: HttpClient, params: Params) -> Outcome:
        """One try of `_fetch`, every exception mapped to a kind."""
        kind: ErrorKind | None = None
        message: str | None = None
        data: dict[str, Any] | None = None
        status_code: int | None = None
        retry_after: str | None = None
        try:
            data = await self._fetch(client, params)
            self._check_response(data)
        except ValidationError as exc:
            kind, message = ErrorKind.VALIDATION_ERROR, summarize_validation_error(exc)
        except httpx.TimeoutException as exc:
            kind, message = ErrorKind.TIMEOUT, f"upstream timed out ({type(exc).__name__})"
        except httpx.HTTPStatusError as exc:
            status_code = exc.response.status_code
            retry_after = exc.response.headers.get("retry-after")
            kind, message = ErrorKind.HTTP_STATUS, f"upstream answered HTTP {status_code}"
        except httpx.TransportError as exc:
            kind, message = ErrorKind.CONNECTION_ERROR, _describe(exc)
        except httpx.DecodingError:
            # The whole body arrived; what it holds is unusable, as a body that is not JSON.
            kind, message = ErrorKind.INVALID_JSON, "body could not be decoded (Content-Encoding)"
        except UpstreamStatusError as exc:
            kind, message = exc.kind, str(exc)
            status_code, retry_after = exc.status_code, exc.retry_after
        except ProviderCallError as exc:
            kind, message = exc.kind, str(exc)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            kind, message = ErrorKind.INVALID_JSON, f"body is not valid JSON: {exc}"
        except Exception as exc:
            kind, message = ErrorKind.PROVIDER_ERROR, _describe(exc)
        if kind is not None and kind is not ErrorKind.VALIDATION_ERROR:
            data = None
        return Outcome(kind, message, data, status_code, retry_after)


def _policy_timeout(policy: ProviderPolicy, settings: Settings) -> httpx.Timeout | None:
    """The policy's connect/read timeouts for `get_json`; None keeps the client's own."""
    if policy.connect_timeout_s is None and policy.read_timeout_s is None:
        return None
    connect = policy.connect_timeout_s or settings.http_connect_timeout_s
    return httpx.Timeout(
        policy.read_timeout_s or settings.http_read_timeout_s, connect=connect, pool=connect
    )


def _json_object(payload: object) -> dict[str, Any]:
    return payload if isinstance(payload, dict) else as_object(payload)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
