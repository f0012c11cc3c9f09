"""The fan-out GET reads its own query: same values, errors and docs as declared parameters."""

from typing import Annotated

import pytest
from fastapi import FastAPI, Header, Query
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import QueryParams

from app.api.fetch_query import FetchQuery, openapi_parameters, read_fetch_query
from app.integrations.schemas import MAX_TIMEOUT_MS
from app.observability.request_id import HEADER, HEADER_DESCRIPTION


def test_lists_gather_repeats_a_scalar_keeps_its_last_value_and_the_rest_is_kept_in_order() -> None:
    query = QueryParams(
        "providers=a,b&city=Paris&providers=c&timeout_ms=5&timeout_ms=7&w.unit=c&required=a"
    )
    steering, others = read_fetch_query(query)
    assert steering == FetchQuery(providers=["a,b", "c"], timeout_ms=7, required=["a"])
    assert others == [("city", "Paris"), ("w.unit", "c")]


def test_nothing_given_is_all_defaults() -> None:
    assert read_fetch_query(QueryParams("")) == (FetchQuery(), [])


def test_every_bad_key_is_reported_at_once_under_query() -> None:
    query = QueryParams(f"timeout_ms={MAX_TIMEOUT_MS + 1}&min_success=0&providers=a")
    with pytest.raises(RequestValidationError) as caught:
        read_fetch_query(query)
    found = {(tuple(e["loc"]), e["type"]) for e in caught.value.errors()}
    assert found == {
        (("query", "timeout_ms"), "less_than_equal"),
        (("query", "min_success"), "greater_than"),
    }


def test_the_documented_parameters_are_what_fastapi_would_declare() -> None:
    """Had the route declared them, FastAPI would document exactly these."""
    app = FastAPI()
    described = {name: field.description for name, field in FetchQuery.model_fields.items()}

    @app.get("/declared")
    async def declared(
        providers: Annotated[list[str] | None, Query(description=described["providers"])] = None,
        timeout_ms: Annotated[
            int | None, Query(gt=0, le=MAX_TIMEOUT_MS, description=described["timeout_ms"])
        ] = None,
        required: Annotated[list[str] | None, Query(description=described["required"])] = None,
        min_success: Annotated[
            int | None, Query(gt=0, description=described["min_success"])
        ] = None,
        x_request_id: Annotated[
            str | None, Header(alias=HEADER, description=HEADER_DESCRIPTION)
        ] = None,
    ) -> None:
        return None

    schema = get_openapi(title="t", version="1", routes=app.routes)
    expected = schema["paths"]["/declared"]["get"]["parameters"]
    assert openapi_parameters() == expected
