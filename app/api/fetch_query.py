"""The fan-out GET's query string: four steering keys, validated as one model, and the rest.

`GET /integrations/fetch` is the hot path, and FastAPI (0.16x) spends about 20 us per declared
query parameter or dependency per request resolving it; on this route that was about a third
of a 3-provider fan-out's CPU (bench/README.md, "Overload"). So the route takes the `Request`
and reads its query here instead: one pydantic validation of the steering keys, errors in
FastAPI's own shape (`loc` `["query", <key>]`, answered by `app/api/errors.py`), and the
OpenAPI parameters generated from the same model, so the docs cannot drift from the check.
"""

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams

from app.integrations.schemas import MAX_TIMEOUT_MS
from app.observability.request_id import HEADER, HEADER_DESCRIPTION


class FetchQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    providers: list[str] | None = Field(
        None, description="Provider names: repeat the parameter or separate with commas."
    )
    timeout_ms: int | None = Field(
        None, gt=0, le=MAX_TIMEOUT_MS, description="Lowers the overall deadline."
    )
    required: list[str] | None = Field(
        None, description="Providers that must succeed (repeat or separate with commas)."
    )
    min_success: int | None = Field(
        None, gt=0, description="At least this many providers must succeed."
    )


# Every other key is a provider param (`name.param`: for provider `name` only).
STEERING_KEYS = frozenset(FetchQuery.model_fields)
_LIST_KEYS = frozenset({"providers", "required"})


def read_fetch_query(query: QueryParams) -> tuple[FetchQuery, list[tuple[str, str]]]:
    """The steering keys, validated, and every other (key, value) pair as sent.

    A list key may repeat; a repeated scalar key counts its last value, as FastAPI does.
    """
    steering: dict[str, Any] = {}
    others: list[tuple[str, str]] = []
    for key, value in query.multi_items():
        if key in _LIST_KEYS:
            steering.setdefault(key, []).append(value)
        elif key in STEERING_KEYS:
            steering[key] = value
        else:
            others.append((key, value))
    try:
        return FetchQuery.model_validate(steering), others
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in errors]
        ) from None


def openapi_parameters() -> list[dict[str, Any]]:
    """The route's parameters as FastAPI would have declared them (`openapi_extra`)."""
    properties = FetchQuery.model_json_schema()["properties"]
    parameters = []
    for name, schema in properties.items():
        schema.pop("default", None)
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": schema["description"],
            }
        )
    parameters.append(
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "schema": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": HEADER_DESCRIPTION,
                "title": "X-Request-Id",
            },
            "description": HEADER_DESCRIPTION,
        }
    )
    return parameters
