"""`ProviderContract`: the tests every provider must pass, each in two modes.

* mock: the provider runs on `HttpClient(transport=MockTransport(respx router))`, httpx's
  path, as a provider unit test would;
* live: on the production client (`create_http_client(settings)`, the direct path through our
  own `ConnectionPool`) against a real server on 127.0.0.1 that answers with the same router
  (`router_server.RouterServer`). What the router records is then what crossed the wire.

A test written against `router` and `route.calls` runs unchanged in both; one that cannot be
expressed on the wire (a transport exception raised by respx, say) belongs in a mock-only
test beside the contract.

Subclass it once per provider, setting `provider_cls` and `sample_params`. Demo providers
get the expected request and a good payload for free (from `DemoProvider.query` and the
simulator catalog); a real provider overrides `make_provider` (to send its requests to
`upstream_url`), `expected_path`, `expected_query` and `good_payload`.
"""

import random
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest
import respx

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.integrations.base import BaseApiProvider
from app.integrations.providers._demo import DemoProvider
from app.simulator.catalog import build_payload

from .router_server import RouterServer

# Where the mock mode's requests go: no socket is ever opened to it.
MOCK_UPSTREAM = "http://upstream.test"


class ProviderContract:
    provider_cls: ClassVar[type[BaseApiProvider]]
    sample_params: ClassVar[dict[str, Any]] = {}

    # --- hooks a real provider's test overrides -------------------------------------------
    def make_provider(self, upstream_url: str) -> BaseApiProvider:
        """The provider, sending its requests to `upstream_url` (scheme, host and port)."""
        return self.provider_cls(Settings(_env_file=None, demo_upstream_url=upstream_url))

    def expected_path(self) -> str:
        cls = self._demo_cls()
        return f"/{cls.name}/{cls.path}"

    def expected_query(self, params: dict[str, Any]) -> dict[str, str]:
        return {k: str(params.get(k, default)) for k, default in self._demo_cls().query.items()}

    def good_payload(self) -> dict[str, Any]:
        query = {key: str(value) for key, value in self.sample_params.items()}
        return build_payload(self.provider_cls.name, random.Random(1234), query)

    def _demo_cls(self) -> type[DemoProvider]:
        if not issubclass(self.provider_cls, DemoProvider):
            pytest.fail(f"{self.provider_cls.__name__} is not a DemoProvider: override the hooks")
        return self.provider_cls

    # --- fixtures --------------------------------------------------------------------------
    @pytest.fixture
    def router(self) -> respx.MockRouter:
        return respx.MockRouter(assert_all_called=False)

    @pytest.fixture(params=["mock", "live"])
    def mode(self, request: pytest.FixtureRequest) -> str:
        mode: str = request.param
        return mode

    @pytest.fixture
    async def upstream_url(self, mode: str, router: respx.MockRouter) -> AsyncIterator[str]:
        if mode == "mock":
            yield MOCK_UPSTREAM
            return
        async with RouterServer(router) as server:
            yield server.url

    @pytest.fixture
    async def client(self, mode: str, router: respx.MockRouter) -> AsyncIterator[HttpClient]:
        if mode == "mock":
            transport = httpx.MockTransport(router.async_handler)
            async with HttpClient(transport=transport) as c:
                yield c
            return
        async with create_http_client(Settings(_env_file=None)) as c:
            assert c.has_direct_path, "live mode must run the production client's direct path"
            yield c

    @pytest.fixture
    def provider(self, upstream_url: str) -> BaseApiProvider:
        return self.make_provider(upstream_url)

    # --- the contract ----------------------------------------------------------------------
    async def test_sends_declared_params_only(
        self, router: respx.MockRouter, client: HttpClient, provider: BaseApiProvider
    ) -> None:
        route = router.route().respond(200, json=self.good_payload())
        params = {**self.sample_params, "not_a_param_of_anyone": "leak?"}

        await provider.execute(client, params, request_id="t")

        request = route.calls.last.request
        assert request.method == provider.method
        assert request.url.path == self.expected_path()
        assert dict(request.url.params) == self.expected_query(self.sample_params)

    async def test_defaults_fill_missing_params(
        self, router: respx.MockRouter, client: HttpClient, provider: BaseApiProvider
    ) -> None:
        route = router.route().respond(200, json=self.good_payload())

        await provider.execute(client, {}, request_id="t")

        assert dict(route.calls.last.request.url.params) == self.expected_query({})

    async def test_good_payload_succeeds(
        self, router: respx.MockRouter, client: HttpClient, provider: BaseApiProvider
    ) -> None:
        payload = self.good_payload()
        router.route().respond(200, json=payload)

        result = await provider.execute(client, self.sample_params, request_id="t")

        assert result.success, result.error_message
        assert result.error_kind is None
        assert result.status_code == 200
        assert result.data == payload

    async def test_server_error_is_http_status(
        self, router: respx.MockRouter, client: HttpClient, provider: BaseApiProvider
    ) -> None:
        router.route().respond(500, text="boom")

        result = await provider.execute(client, self.sample_params, request_id="t")

        assert not result.success
        assert result.error_kind is ErrorKind.HTTP_STATUS
        assert result.status_code == 500
        assert result.data is None

    async def test_non_json_body_is_invalid_json(
        self, router: respx.MockRouter, client: HttpClient, provider: BaseApiProvider
    ) -> None:
        router.route().respond(200, text="<html>maintenance</html>")

        result = await provider.execute(client, self.sample_params, request_id="t")

        assert result.error_kind is ErrorKind.INVALID_JSON
        assert not result.is_validation_error

    async def test_missing_required_field_is_validation_error(
        self, router: respx.MockRouter, client: HttpClient, provider: BaseApiProvider
    ) -> None:
        model = provider.response_model
        assert model is not None, "a provider should declare its response_model"
        required = [name for name, f in model.model_fields.items() if f.is_required()]
        assert required, f"{model.__name__} has no required field to drop"
        payload = self.good_payload()
        del payload[required[0]]
        router.route().respond(200, json=payload)

        result = await provider.execute(client, self.sample_params, request_id="t")

        assert not result.success
        assert result.is_validation_error
        assert result.error_kind is ErrorKind.VALIDATION_ERROR
        assert result.error_message is not None
        assert required[0] in result.error_message
        assert result.data == payload
