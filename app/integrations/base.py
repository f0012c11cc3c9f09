"""`BaseApiProvider`: the template every external API plugs into.

A provider knows its endpoint, its parameters and its response shape, and implements only
`_fetch`. Timing, error capture, validation and the resilience policies (`app.resilience`)
live once, in `execute`. Credentials are declared by name (`secrets = {"token": "GITHUB_TOKEN"}`)
and read with `self.secret("token")`; an `auth` object (`app.integrations.auth`) adds them to
every `request_json`.
"""

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import BaseModel

from app.core.config import Settings
from app.core.errors import ErrorKind, UpstreamStatusError
from app.http import CallState, HttpClient, current_call
from app.integrations import secrets
from app.integrations.auth import Auth
from app.integrations.outcomes import failed
from app.integrations.reuse import CacheResult, Reuse, leg_deadline, wants_store
from app.integrations.schemas import ExternalResponse, ProviderInfo
from app.integrations.sending import JsonRequests, as_object
from app.integrations.spans import CallTrace, ProviderSpans
from app.resilience.clock import SYSTEM_CLOCK, Clock
from app.resilience.deadline import Deadline
from app.resilience.policy import ProviderPolicy, build_policy, policy_defaults
from app.resilience.response_cache import CacheStore, MemoryStore
from app.resilience.runner import Attempt, Outcome, PolicyRunner, RunResult
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
        # Its own store until `attach_cache` shares the app's (`create_app` does).
        store = MemoryStore(settings.cache_max_bytes) if wants_store(self.policy) else None
        self.reuse = Reuse(self.name, self.method, self.policy, store)
        self._spans = ProviderSpans(self.name, self.method)

    def attach_cache(self, store: CacheStore, clock: Clock = SYSTEM_CLOCK) -> None:
        """Keep this provider's cached answers in `store` (shared by every provider)."""
        self.reuse = Reuse(self.name, self.method, self.policy, store, clock=clock)

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
        """Keep this provider's breaker and quota in `state` (`REDIS_URL`)."""
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
        use_cache: bool = True,
    ) -> ExternalResponse:
        """Template method: run `_fetch` under the policies, time it, never raise (but cancel).

        `deadline` is the request's (on `time.monotonic()`); no attempt outlives it.
        `use_cache=False` (the client's `Cache-Control: no-cache`) skips fresh cached answers.
        """
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        reuse = self.reuse
        cache: CacheResult | None = None
        coalesced = redacted = False
        # Its span covers the whole call: a cache hit or a coalesced call has one too.
        trace = self._spans.start()
        try:
            if not reuse.active:
                run, state = await self._leg(client, params, request_id, deadline, trace)
            else:
                # What the call sends, as the cache and coalescing key it: its parameters.
                names = self._param_names
                if names is None:
                    names = self._param_names = tuple(self.parameters())
                key = reuse.key(self.endpoint, params, names)
                reused = await reuse.call(
                    key,
                    # The attempts' spans are children of the span of the caller making them.
                    lambda shared: self._leg(client, params, request_id, deadline, trace, shared),
                    deadline,
                    bypass=not use_cache,
                )
                run, found = reused.run, reused.state
                state = found if found is not None else CallState(request_id=request_id)
                cache, coalesced, redacted = reused.cache, reused.coalesced, reused.redacted
        except BaseException:
            if trace is not None:
                trace.cancelled()
            raise
        elapsed_ms = (time.perf_counter() - start) * 1000
        breaker, outcome = self.runner.breaker, run.outcome
        kind, message, data = outcome.kind, outcome.message, outcome.data
        keep = kind is None or run.stale or kind is ErrorKind.VALIDATION_ERROR
        if keep and not redacted and data is not None:
            # The one redaction step for what is returned and stored (after validation).
            data = redact_data(data)
        result = ExternalResponse.model_construct(
            provider=self.name,
            success=kind is None,
            data=data if keep else None,
            error_message=redact_text(message) if message else None,
            response_time_ms=round(elapsed_ms, 3),
            is_validation_error=kind is ErrorKind.VALIDATION_ERROR,
            status_code=outcome.status_code or (state.status_code if run.attempts else None),
            error_kind=kind,
            attempts=run.attempts,
            started_at=started_at,
            stale=run.stale,
            retry_at=run.retry_at,
            # A cache hit or a caller's own timeout did not pass the runner: ask the breaker.
            breaker_state=run.breaker_state or (breaker.state if breaker is not None else None),
            cache=cache,
            coalesced=coalesced,
            won_attempt=run.won_attempt,
            trace_id=trace.trace_id if trace is not None else None,
            trace_sampled=trace is not None and trace.span is not None,
        )
        if trace is not None:
            trace.end(result)
        return result

    async def _leg(
        self,
        client: HttpClient,
        params: Params,
        request_id: str,
        deadline: Deadline | None,
        trace: CallTrace | None,
        shared: bool = False,
    ) -> tuple[RunResult, CallState]:
        """The call itself, under the policies, with its own record of what the wire saw."""
        state = CallState(request_id=request_id)
        token = current_call.set(state)
        limit, plan_at = leg_deadline(deadline, shared, self.settings.request_timeout_ms)
        attempt: Attempt = lambda: self._attempt(client, params)  # noqa: E731
        if trace is not None:
            attempt = trace.wrap(attempt, state)
        try:
            run = await self.runner.run(attempt, limit, plan_at)
        finally:
            current_call.reset(token)
        return run, state

    async def _attempt(self, client: HttpClient, params: Params) -> Outcome:
        """One try of `_fetch`, every exception mapped to a kind (`outcomes.failed`)."""
        data: dict[str, Any] | None = None
        try:
            data = await self._fetch(client, params)
            self._check_response(data)
        except Exception as exc:
            return failed(exc, data)
        return Outcome(None, None, data)


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
