"""The provider sets the bench serves, shared by the service apps and the ceiling.

* `default`: the providers of `app.integrations.providers` (20 demo providers).
* `many`: 100 generated `DemoProvider`s, `gen_000` .. `gen_099`, no response model (the
  bench upstream answers unknown names with a small fixed JSON object).
"""

from urllib.parse import urlencode

from app.core.config import Settings
from app.integrations.base import BaseApiProvider
from app.integrations.providers._demo import DemoProvider
from app.integrations.registry import ProviderRegistry

MANY = 100


def _generated(i: int) -> type[DemoProvider]:
    name = f"gen_{i:03d}"
    return type(
        f"Gen{i:03d}Provider",
        (DemoProvider,),
        {
            "__module__": __name__,
            "name": name,
            "description": f"generated bench provider {i}",
            "path": "data",
            "query": {"city": "Seoul", "units": "metric"},
            "response_model": None,
        },
    )


def registry(which: str) -> ProviderRegistry:
    if which == "default":
        return ProviderRegistry.from_package()
    if which == "many":
        return ProviderRegistry([_generated(i) for i in range(MANY)])
    raise ValueError(f"unknown provider set {which!r}")


def upstream_urls(which: str, settings: Settings) -> list[str]:
    """The exact URLs (with default query) the service's providers call for a bare fetch."""
    urls = []
    for cls in registry(which).classes():
        provider: BaseApiProvider = cls(settings)
        if not isinstance(provider, DemoProvider):
            raise TypeError(f"{cls.__name__} is not a DemoProvider: the ceiling cannot mimic it")
        query = urlencode(dict(provider.query))
        urls.append(f"{provider.endpoint}?{query}" if query else provider.endpoint)
    return urls
