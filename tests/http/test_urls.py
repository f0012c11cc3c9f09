"""`with_query` builds the URL httpx builds for a request with params."""

from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from app.http.urls import with_query

_URLS = [
    "http://api.test/v1/weather",
    "https://api.test:8443/a%20b/~x/",
    "http://api.test/search?key=1&lang=en",  # httpx: request params replace this query
    "http://api.test/a?",
    "http://[::1]:8080/v1",
]
# Plain names and values take `with_query`'s own path, any other its httpx one.
_NAMES = st.one_of(st.text(max_size=8), st.text(alphabet="aZ09-._~", max_size=8))
_VALUES = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="aZ09-._~", max_size=12),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    url=st.sampled_from(_URLS),
    params=st.dictionaries(_NAMES, _VALUES, max_size=4),
)
def test_with_query_is_what_httpx_builds(url: str, params: dict[str, Any]) -> None:
    head = str(httpx.URL(url).copy_with(query=None))
    built = httpx.Request("GET", url, params=params).url  # what a client without params builds
    assert with_query(head, params) == str(built)
