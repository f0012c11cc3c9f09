"""The shared shape of the demo providers: GET `{DEMO_UPSTREAM_URL}/<name>/<path>` as JSON."""

from abc import ABC
from typing import Any, ClassVar

from app.core.config import Settings
from app.http import HttpClient
from app.integrations.base import BaseApiProvider, Params


class DemoProvider(BaseApiProvider, ABC):
    """Sends only the params named in `query` (name -> default), as a query string."""

    path: ClassVar[str]
    query: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        base = str(settings.demo_upstream_url or "http://127.0.0.1:8001").rstrip("/")
        self._url = f"{base}/{self.name}/{self.path}"
        key = settings.demo_api_key
        # The credential travels in a header only, never in the URL (which errors may show).
        self._headers = {"X-Api-Key": key.get_secret_value()} if key is not None else None

    @property
    def endpoint(self) -> str:
        return self._url

    def parameters(self) -> dict[str, str]:
        return self.params_doc or {key: f"default {value!r}" for key, value in self.query.items()}

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        query = {key: str(params.get(key, default)) for key, default in self.query.items()}
        # Streamed under the policy's size cap, JSON content type checked.
        return await self.get_json(client, self._url, params=query, headers=self._headers)
