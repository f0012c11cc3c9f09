"""Provider names from a client: one parser and one rule for every route that takes them.

`a,b` and repeated parameters (or list items) alike; an empty name is a mistake (422), never
"all": to mean every provider, leave the parameter out. Unknown names are a 422 that lists the
valid ones. Messages point at the name by position and never repeat what the client sent.
"""

from collections.abc import Sequence

from fastapi.exceptions import RequestValidationError

from app.integrations.manager import ApiIntegrationManager, UnknownProviderError


def invalid(kind: str, loc: tuple[str | int, ...], msg: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, without the offending input."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg}])


def positions(names: Sequence[str], wrong: set[str]) -> str:
    """1-based positions of the wrong names: "2" or "2, 5"."""
    return ", ".join(str(i) for i, name in enumerate(names, 1) if name in wrong)


def split_names(values: Sequence[str] | None, loc: tuple[str, ...]) -> list[str]:
    """The names of `values` (commas or repeats), stripped; an empty one is a 422."""
    names = [n.strip() for v in values or [] for n in v.split(",")]
    if "" in names:
        raise invalid(
            "empty_provider_name",
            loc,
            f"`{loc[-1]}` has an empty provider name (position {positions(names, {''})}); "
            "name a provider, or omit the parameter to mean every provider",
        )
    return names


def resolve_names(
    manager: ApiIntegrationManager, names: Sequence[str], loc: tuple[str, ...]
) -> list[str] | None:
    """`split_names`' names, registered ones only, without repeats; None when there are none."""
    try:
        return manager.resolve(names)
    except UnknownProviderError as exc:
        raise invalid(
            "unknown_provider",
            loc,
            f"`{loc[-1]}` names a provider that is not registered (position "
            f"{positions(names, set(exc.unknown))}); valid names: {', '.join(exc.valid)}",
        ) from exc
