"""Build file providers from YAML text in a test's own directory, and run them."""

import textwrap
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.http import HttpClient
from app.integrations.files import FileProvider, load_file
from app.integrations.schemas import ExternalResponse


def settings(upstream: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"demo_upstream_url": upstream, "policy_retries": 0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def provider_class(directory: Path, text: str, file: str = "p.yaml") -> type[FileProvider]:
    path = directory / file
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_file(path)


async def run(
    provider: FileProvider, client: HttpClient, params: dict[str, Any] | None = None
) -> ExternalResponse:
    return await provider.execute(client, params or {}, request_id="req-1")
