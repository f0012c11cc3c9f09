"""What `python -m app providers new` writes: a provider file, or a module and its test."""

import json
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

from typing import Any, ClassVar

from pydantic import BaseModel

from app.core.config import Settings
from app.http import HttpClient
{auth_import}from app.integrations.base import BaseApiProvider, Params


class {model}(BaseModel):
    """The fields you rely on; a mismatch is a validation_error."""

    answer: int


class {cls}(BaseApiProvider):
    name = "{name}"
    description = "What this API answers, in one line."
    method = "{method}"
    response_model = {model}
    params_doc = {{"q": "what to look up"}}
    secrets = {secrets}
    base_url: ClassVar[str] = "{base}"  # the contract test points it at a local server
    path: ClassVar[str] = "{path}"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        {auth}

    @property
    def endpoint(self) -> str:
        return self.base_url + self.path

    async def _fetch(self, client: HttpClient, params: Params) -> dict[str, Any]:
        query = {{"q": str(params.get("q", ""))}}
        return await self.request_json(client, self.method, self.endpoint, params=query)
'''

_TEST = '''"""The shared contract for {name}."""

from typing import Any

import pytest

from app.core.config import Settings
from app.integrations.base import BaseApiProvider
from app.integrations.providers.{name} import {cls}
from tests.integrations.providers.contract import ProviderContract


class Test{cls}(ProviderContract):
    provider_cls = {cls}
    sample_params = {{"q": "x"}}

    @pytest.fixture(autouse=True)
    def credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for variable in {variables}:
            monkeypatch.setenv(variable, "test-credential-value")

    def make_provider(self, upstream_url: str) -> BaseApiProvider:
        local = type("Local", ({cls},), {{"base_url": upstream_url}})
        return local(Settings(_env_file=None))

    def expected_path(self) -> str:
        return {cls}.path

    def expected_query(self, params: dict[str, Any]) -> dict[str, str]:
        return {{"q": str(params.get("q", ""))}}

    def good_payload(self) -> dict[str, Any]:
        return {{"answer": 42}}
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


def write_code_provider(
    name: str, url: str, method: str, auth: str, root: Path = PROJECT_ROOT
) -> list[Path]:
    _checked(name, url)
    module = root / "app" / "integrations" / "providers" / f"{name}.py"
    test = root / "tests" / "integrations" / "providers" / f"test_{name}.py"
    for path in (module, test):
        if path.exists():
            raise FileExistsError(f"{path} exists; pick another name or edit it")
    cls = "".join(part.title() for part in name.split("_")) + "Provider"
    secrets: dict[str, str] = {}
    # No credential: no auth object; one line to change when the API needs one.
    auth_line = "self.auth = None  # or an object of app.integrations.auth"
    auth_import = ""
    if auth != "none":
        # Bearer as the start; app.integrations.auth has the other schemes.
        secrets = {"token": f"{name.upper()}_TOKEN"}
        auth_line = 'self.auth = BearerAuth(self.secret("token"))'
        auth_import = "from app.integrations.auth import BearerAuth\n"
    scheme, _, rest = url.partition("://")
    host, slash, url_path = rest.partition("/")
    module.parent.mkdir(parents=True, exist_ok=True)
    test.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(
        _MODULE.format(
            name=name,
            cls=cls,
            model=cls.removesuffix("Provider") + "Answer",
            method=method,
            url=url,
            secrets=json.dumps(secrets),
            base=f"{scheme}://{host}",
            path=slash + url_path,
            auth=auth_line,
            auth_import=auth_import,
        ),
        encoding="utf-8",
    )
    variables = json.dumps(sorted(secrets.values()))
    test.write_text(_TEST.format(name=name, cls=cls, variables=variables), encoding="utf-8")
    return [module, test]
