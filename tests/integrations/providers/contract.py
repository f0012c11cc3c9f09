"""`ProviderContract`: the tests every provider must pass, against a mocked upstream.

Subclass it once per provider, setting `provider_cls` and `sample_params`. Demo providers
get the expected request and a good payload for free (from `DemoProvider.query` and the
simulator catalog); a real provider overrides `expected_path`, `expected_query` and
`good_payload`.
"""

import random
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest
import respx

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import HttpClient
from app.integrations.base import BaseApiProvider
from app.integrations.providers._demo import DemoProvider
from app.simulator.catalog import build_payload


class ProviderContract:
    provider_cls: ClassVar[type[BaseApiProvider]]
    sample_params: ClassVar[dict[str, Any]] = {}

    # --- hooks a real provider's test overrides -------------------------------------------
    def make_provider(self) -> BaseApiProvider:
        return self.provider_cls(Settings(demo_upstream_url="http://upstream.test"))

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

    @pytest.fixture
    async def client(self, router: respx.MockRouter) -> AsyncIterator[HttpClient]:
        transport = httpx.MockTransport(router.async_handler)
        async with HttpClient(transport=transport) as c:
            yield c

    @pytest.fixture
    def provider(self) -> BaseApiProvider:
        return self.make_provider()

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
