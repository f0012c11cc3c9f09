"""File providers against the real simulator: every auth scheme, OAuth2 single-flight and
refresh, POST bodies, array answers, `select`, schemas and parameters."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.errors import ErrorKind
from app.http import HttpClient, create_http_client
from app.simulator import Simulator
from app.simulator import secured as sim
from tests.integrations.files.helpers import provider_class, run, settings


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[HttpClient]:
    async with create_http_client(settings(simulator.url)) as shared:
        yield shared


AUTH = {
    "api_key_header": (
        "api-key",
        "{type: api_key, in: header, name: X-Api-Key, value: '${SIM_KEY}'}",
    ),
    "api_key_query": ("api-key", "{type: api_key, in: query, name: api_key, value: '${SIM_KEY}'}"),
    "bearer": ("bearer", "{type: bearer, token: '${SIM_BEARER}'}"),
    "basic": ("basic", "{type: basic, username: demo, password: '${file:SECRET_FILE}'}"),
    "oauth2_basic": (
        "oauth",
        "{type: oauth2_client_credentials, token_url: '${DEMO_UPSTREAM_URL}/oauth/token', "
        "client_id: demo-client, client_secret: '${SIM_CLIENT_SECRET}', scope: read}",
    ),
    "oauth2_body": (
        "oauth",
        "{type: oauth2_client_credentials, token_url: '${DEMO_UPSTREAM_URL}/oauth/token', "
        "client_id: demo-client, client_secret: '${SIM_CLIENT_SECRET}', client_auth: body}",
    ),
}


@pytest.fixture
def sim_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SIM_KEY", sim.API_KEY)
    monkeypatch.setenv("SIM_BEARER", sim.BEARER_TOKEN)
    monkeypatch.setenv("SIM_CLIENT_SECRET", sim.CLIENT_SECRET)
    secret_file = tmp_path / "basic-password"
    secret_file.write_text(sim.BASIC_PASSWORD + "\n")  # as Kubernetes mounts it
    return secret_file


def _auth_yaml(scheme: str, auth: str, secret_file: Path) -> str:
    return f"""
        name: secured
        request: {{url: "${{DEMO_UPSTREAM_URL}}/auth/{scheme}"}}
        auth: {auth.replace("SECRET_FILE", str(secret_file))}
        response:
          schema:
            type: object
            required: [authenticated]
            properties: {{authenticated: {{const: true}}}}
    """


@pytest.mark.parametrize("case", sorted(AUTH))
async def test_each_auth_scheme_is_accepted_by_the_simulator(
    case: str, simulator: Simulator, client: HttpClient, tmp_path: Path, sim_secrets: Path
) -> None:
    scheme, auth = AUTH[case]
    cls = provider_class(tmp_path, _auth_yaml(scheme, auth, sim_secrets))
    result = await run(cls(settings(simulator.url)), client)
    assert result.success, result.error_message
    assert result.data == {"authenticated": True, "scheme": scheme, "user": "demo"}


async def test_a_wrong_credential_is_a_401_http_status(
    simulator: Simulator, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_BEARER", "not-the-token-at-all")
    cls = provider_class(tmp_path, _auth_yaml("bearer", AUTH["bearer"][1], tmp_path))
    result = await run(cls(settings(simulator.url)), client)
    assert (result.error_kind, result.status_code) == (ErrorKind.HTTP_STATUS, 401)


OAUTH = """
    name: oauth_api
    request: {url: "${DEMO_UPSTREAM_URL}/auth/oauth"}
    auth:
      type: oauth2_client_credentials
      token_url: "${DEMO_UPSTREAM_URL}/oauth/token"
      client_id: demo-client
      client_secret: "${SIM_CLIENT_SECRET}"
"""


async def test_200_concurrent_cold_calls_make_one_token_request(
    simulator: Simulator, client: HttpClient, tmp_path: Path, sim_secrets: Path
) -> None:
    provider = provider_class(tmp_path, OAUTH)(settings(simulator.url, policy_max_concurrency=None))
    results = await asyncio.gather(*(run(provider, client) for _ in range(200)))
    assert all(r.success for r in results), {r.error_message for r in results}
    assert simulator.secured.token_requests == 1
    await run(provider, client)  # a warm call: the cached token
    assert simulator.secured.token_requests == 1


async def test_a_401_drops_the_token_and_retries_once_with_a_fresh_one(
    simulator: Simulator, client: HttpClient, tmp_path: Path, sim_secrets: Path
) -> None:
    provider = provider_class(tmp_path, OAUTH)(settings(simulator.url))
    assert (await run(provider, client)).success
    simulator.secured.revoke_tokens()  # the API now refuses the cached token
    result = await run(provider, client)
    assert result.success and result.attempts == 1  # the refresh is inside one attempt
    assert simulator.secured.token_requests == 2


async def test_a_token_endpoint_that_fails_is_an_auth_error_saying_what_it_answered(
    simulator: Simulator, client: HttpClient, tmp_path: Path, sim_secrets: Path
) -> None:
    simulator.secured.token_endpoint_down = True
    result = await run(provider_class(tmp_path, OAUTH)(settings(simulator.url)), client)
    assert result.error_kind is ErrorKind.AUTH_ERROR
    assert result.error_message == "token endpoint: upstream answered HTTP 503 Service Unavailable"
    assert sim.CLIENT_SECRET not in result.error_message


async def test_a_wrong_client_secret_is_an_auth_error(
    simulator: Simulator, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_CLIENT_SECRET", "wrong-client-secret")
    result = await run(provider_class(tmp_path, OAUTH)(settings(simulator.url)), client)
    assert result.error_kind is ErrorKind.AUTH_ERROR
    assert "HTTP 401" in (result.error_message or "")


ORDERS = """
    name: orders
    request:
      method: POST
      url: "${DEMO_UPSTREAM_URL}/orders"
      json: {item: "{item}", quantity: "{quantity}", note: "for {item}", gift: "{gift}"}
    params:
      item: {required: true, description: what to order}
      quantity: {type: integer, default: 1}
      gift: {type: boolean}
    response:
      select: "{id: id, item: item, quantity: quantity, status: status}"
      schema:
        type: object
        required: [id, item, quantity, status]
        properties: {quantity: {type: integer}, status: {const: created}}
"""


async def test_post_with_a_typed_json_body_and_select(
    simulator: Simulator, client: HttpClient, tmp_path: Path
) -> None:
    provider = provider_class(tmp_path, ORDERS)(settings(simulator.url))
    result = await run(provider, client, {"item": "tea", "quantity": "3", "other": "x"})
    assert result.success, result.error_message
    assert result.status_code == 201
    assert result.data == {"id": 1, "item": "tea", "quantity": 3, "status": "created"}


async def test_an_array_answer_is_items_and_select_reshapes_it(
    simulator: Simulator, client: HttpClient, tmp_path: Path
) -> None:
    plain = provider_class(
        tmp_path, 'name: users\nrequest: {url: "${DEMO_UPSTREAM_URL}/array/users"}\n'
    )(settings(simulator.url))
    result = await run(plain, client)
    assert result.success and result.data is not None
    assert [u["name"] for u in result.data["items"]] == ["Ada", "Grace", "Linus"]
    engineers = provider_class(
        tmp_path,
        """
        name: engineers
        request: {url: "${DEMO_UPSTREAM_URL}/array/users"}
        response: {select: "[?role=='engineer'].name"}
        """,
        "e.yaml",
    )(settings(simulator.url))
    assert (await run(engineers, client)).data == {"items": ["Grace", "Linus"]}


async def test_a_schema_mismatch_is_a_validation_error_keeping_the_data(
    simulator: Simulator, client: HttpClient, tmp_path: Path
) -> None:
    provider = provider_class(
        tmp_path,
        """
        name: users
        request: {url: "${DEMO_UPSTREAM_URL}/array/users"}
        response:
          schema:
            type: object
            properties: {items: {type: array, items: {properties: {id: {type: string}}}}}
        """,
    )(settings(simulator.url))
    result = await run(provider, client)
    assert result.error_kind is ErrorKind.VALIDATION_ERROR and result.is_validation_error
    assert result.error_message == (
        "response does not match the schema of users: items/0/id: fails 'type'; "
        "items/1/id: fails 'type'; items/2/id: fails 'type'"
    )
    assert result.data is not None and len(result.data["items"]) == 3


async def test_query_and_path_parameters_with_defaults(
    simulator: Simulator, client: HttpClient, tmp_path: Path
) -> None:
    provider = provider_class(
        tmp_path,
        """
        name: city_weather
        request:
          url: "${DEMO_UPSTREAM_URL}/weather/{kind}"
          query: {city: "{city}", units: metric, lang: "{lang}"}
        params:
          kind: {default: current}
          city: {required: true}
          lang: {description: left out when not given}
        response: {select: "{city: city, conditions: conditions}"}
        """,
    )(settings(simulator.url))
    result = await run(provider, client, {"city": "Busan"})
    assert result.success and result.data is not None and result.data["city"] == "Busan"
    assert provider.check_params({}) == [("city", "provider 'city_weather' needs parameter 'city'")]
