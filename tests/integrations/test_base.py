"""The template method: every way a call can fail becomes a typed result."""

from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from app.core.config import Settings
from app.core.errors import ErrorKind
from app.http import create_http_client
from app.integrations.base import BaseApiProvider, Params

SETTINGS = Settings(_env_file=None)


class Quote(BaseModel):
    symbol: str
    price: float


class QuoteProvider(BaseApiProvider):
    name = "quotes"
    response_model = Quote

    @property
    def endpoint(self) -> str:
        return "https://quotes.test/v1/quote"

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        response = await client.get(self.endpoint, params={"symbol": params.get("symbol", "X")})
        return self.parse_json_object(response)


class BuggyProvider(QuoteProvider):
    name = "buggy"

    async def _fetch(self, client: httpx.AsyncClient, params: Params) -> dict[str, Any]:
        raise KeyError("missing-field")


async def run(handler: Any, provider_cls: type[BaseApiProvider] = QuoteProvider) -> Any:
    async with create_http_client(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        return await provider_cls(SETTINGS).execute(client, {"symbol": "AAPL"}, request_id="r1")


async def test_success_keeps_payload_status_and_timing() -> None:
    result = await run(lambda req: httpx.Response(200, json={"symbol": "AAPL", "price": 1.5}))
    assert result.success
    assert result.data == {"symbol": "AAPL", "price": 1.5}
    assert result.status_code == 200
    assert result.error_kind is None
    assert result.attempts == 1
    assert result.response_time_ms >= 0


async def test_validation_error_names_the_field_and_keeps_the_data() -> None:
    result = await run(lambda req: httpx.Response(200, json={"symbol": "AAPL", "price": "N/A"}))
    assert not result.success
    assert result.is_validation_error
    assert result.error_kind is ErrorKind.VALIDATION_ERROR
    assert "price" in result.error_message
    assert "N/A" not in result.error_message  # values never echoed
    assert result.data == {"symbol": "AAPL", "price": "N/A"}


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(200, content=b"<html>oops"), ErrorKind.INVALID_JSON),
        (httpx.Response(200, content=b"\xff\xfe{"), ErrorKind.INVALID_JSON),
    ],
)
async def test_unusable_bodies(response: httpx.Response, kind: ErrorKind) -> None:
    result = await run(lambda req: response)
    assert (result.success, result.error_kind, result.data) == (False, kind, None)


@pytest.mark.parametrize(
    ("answer", "data"),
    [(b"[1, 2]", {"items": [1, 2]}), (b'"up"', {"value": "up"}), (b"null", {"value": None})],
)
async def test_a_top_level_non_object_is_wrapped_in_one(answer: bytes, data: object) -> None:
    # data stays a JSON object, as the DTO declares; the model then judges the shape.
    result = await run(lambda req: httpx.Response(200, content=answer))
    assert result.error_kind is ErrorKind.VALIDATION_ERROR
    assert result.data == data


async def test_http_status_carries_the_code() -> None:
    result = await run(lambda req: httpx.Response(503, json={"error": "down"}))
    assert result.error_kind is ErrorKind.HTTP_STATUS
    assert result.status_code == 503
    assert "503" in result.error_message


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("slow"), ErrorKind.TIMEOUT),
        (httpx.ConnectTimeout("slow"), ErrorKind.TIMEOUT),
        (httpx.ConnectError("refused"), ErrorKind.CONNECTION_ERROR),
        (httpx.RemoteProtocolError("reset"), ErrorKind.CONNECTION_ERROR),
    ],
)
async def test_transport_failures(exc: Exception, kind: ErrorKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    result = await run(handler)
    assert (result.success, result.error_kind, result.status_code) == (False, kind, None)


async def test_provider_bug_is_a_result_not_an_exception() -> None:
    result = await run(lambda req: httpx.Response(200), BuggyProvider)
    assert result.error_kind is ErrorKind.PROVIDER_ERROR
    assert "KeyError" in result.error_message


async def test_credentials_in_error_text_are_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed for {request.url}?api_key=sk-canary-123")

    async with create_http_client(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        provider = QuoteProvider(SETTINGS)
        result = await provider.execute(client, {"symbol": "s3cr3t-sym"}, request_id="r")
    message = result.error_message
    assert message is not None
    assert "sk-canary-123" not in message
    assert "s3cr3t-sym" not in message
    assert "quotes.test" in message


async def test_provider_info_describes_without_secrets() -> None:
    class Keyed(QuoteProvider):
        name = "keyed"

        @property
        def endpoint(self) -> str:
            return "https://user:pw@quotes.test/v1?key=abc"

    info = Keyed(SETTINGS).info()
    assert info.endpoint == "https://[REDACTED]@quotes.test/v1?key=[REDACTED]"
    assert info.response_model == "Quote"
    assert info.response_schema is not None
    assert "price" in info.response_schema["properties"]
