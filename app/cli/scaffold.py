"""What `python -m app providers new` writes: a provider file, or a module and its test."""

import re
from pathlib import Path


PROJECT_ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")

_AUTH_YAML = {
    "none": "",
    "api_key": """auth:
  type: api_key
  in: header            # or: query
  name: X-Api-Key
  value: "${{{env}_API_KEY}}"
""",
    "bearer": """auth:
  type: bearer
  token: "${{{env}_TOKEN}}"
""",
    "basic": """auth:
  type: basic
  username: "${{{env}_USERNAME}}"
  password: "${{{env}_PASSWORD}}"
""",
    "oauth2_client_credentials": """auth:
  type: oauth2_client_credentials
  token_url: https://auth.example/oauth/token
  client_id: "${{{env}_CLIENT_ID}}"
  client_secret: "${{{env}_CLIENT_SECRET}}"
  # scope: read
  # audience: https://api.example
""",
}

_FILE = """# A provider declared in a file: docs/providers.md describes every field.
# Editors validate it against providers/provider.schema.json.
name: {name}
description: What this API answers, in one line.
request:
  method: {method}
  url: {url}
  query:
    q: "{{q}}"            # a parameter of the request; left out when not given
{body}params:
  q:
    description: What to look up.
{auth}response:
  # select: "data"         # JMESPath: trim or reshape the answer
  schema:
    type: object
# policy:
#   retries: 1
"""

_MODULE = '''"""{name}: what this API answers, in one line."""

from typing import Any

from pydantic import BaseModel

from app.http import HttpClient
from app.integrations.base import BaseApiProvider, Params


class {model}(BaseModel):
    """The fields you rely on; a mismatch is a validation_error."""


class {cls}(BaseApiProvider):
    name = "{name}"
    description = "What this API answers, in one line."
    method = "{method}"
    response_model = {model}
    params_doc = {{"q": "what to look up"}}
    secrets = {secrets}

    @property
    def endpoint(self) -> str:
        return "{url}"

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        return await self.request_json(
            client, self.method, self.endpoint, params={{"q": params.get("q", "")}}{headers}
        )
'''

_TEST = '''"""The shared contract for {name}."""

from app.integrations.providers.{name} import {cls}
from tests.integrations.providers.contract import ProviderContract


class Test{cls}(ProviderContract):
    provider_cls = {cls}
    sample_params = {{"q": "x"}}
'''


def _checked(name: str, url: str) -> None:
    if not _NAME.match(name):
        raise ValueError("NAME needs lowercase letters, digits and underscores (at most 50)")
    if not url.startswith(("http://", "https://")):
        raise ValueError("--url must start with http:// or https://")


def write_file_provider(directory: Path, name: str, url: str, method: str, auth: str) -> Path:
    _checked(name, url)
    path = directory / f"{name}.yaml"
    if path.exists():
        raise FileExistsError(f"{path} exists; pick another name or edit it")
    body = '  json:\n    query: "{q}"\n' if method != "GET" else ""
    text = _FILE.format(
        name=name,
        method=method,
        url=url,
        body=body,
        auth=_AUTH_YAML[auth].format(env=name.upper()),
    )
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_code_provider(name: str, url: str, method: str, auth: str) -> list[Path]:
    _checked(name, url)
    module = PROJECT_ROOT / "app" / "integrations" / "providers" / f"{name}.py"
    test = PROJECT_ROOT / "tests" / "integrations" / "providers" / f"test_{name}.py"
    for path in (module, test):
        if path.exists():
            raise FileExistsError(f"{path} exists; pick another name or edit it")
    cls = "".join(part.title() for part in name.split("_")) + "Provider"
    secrets: dict[str, str] = {}
    headers = ""
    if auth != "none":
        secrets = {"token": f"{name.upper()}_TOKEN"}
        headers = ',\n            headers={"Authorization": f"Bearer {self.secret(\'token\')}"}'
    module.write_text(
        _MODULE.format(
            name=name,
            cls=cls,
            model=cls.removesuffix("Provider") + "Answer",
            method=method,
            url=url,
            secrets=secrets,
            headers=headers,
        ),
        encoding="utf-8",
    )
    test.write_text(_TEST.format(name=name, cls=cls), encoding="utf-8")
    return [module, test]
