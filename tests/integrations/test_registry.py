"""Providers register by existing: discovery, abstract skipping, refused duplicates."""

import sys
import textwrap
from pathlib import Path

import pytest

from app.integrations.providers._demo import DemoProvider
from app.integrations.registry import ProviderRegistry, ProviderRegistryError, discover
from tests.support.providers import DEMO_PROVIDERS


def make_package(tmp_path: Path, name: str, modules: dict[str, str]) -> str:
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    return name


PROVIDER = """
    from app.integrations.providers._demo import DemoProvider

    class {cls}(DemoProvider):
        name = "{name}"
        path = "x"
"""


@pytest.fixture(autouse=True)
def _restore_sys_path() -> object:
    saved = list(sys.path)
    yield
    sys.path[:] = saved


def test_bundled_package_has_the_twenty_demo_providers() -> None:
    # Named one by one: a provider module added beside them must not break this test.
    registry = ProviderRegistry.from_package()
    assert registry.names == sorted(registry.names)
    found = {cls for cls in registry.classes() if issubclass(cls, DemoProvider)}
    assert found == set(DEMO_PROVIDERS)
    assert len(DEMO_PROVIDERS) == 20


def test_one_new_module_is_one_new_provider(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        "pkg_one",
        {
            "alpha": PROVIDER.format(cls="Alpha", name="alpha"),
            "beta": PROVIDER.format(cls="Beta", name="beta"),
            "_helpers": PROVIDER.format(cls="Hidden", name="hidden"),
            "base": """
                from abc import abstractmethod
                from app.integrations.providers._demo import DemoProvider

                class Intermediate(DemoProvider):
                    @abstractmethod
                    def extra(self) -> None: ...
            """,
        },
    )
    assert ProviderRegistry.from_package(package).names == ["alpha", "beta"]


def test_duplicate_names_stop_start_up_naming_both_classes(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        "pkg_dup",
        {
            "first": PROVIDER.format(cls="First", name="same"),
            "second": PROVIDER.format(cls="Second", name="same"),
        },
    )
    with pytest.raises(ProviderRegistryError, match=r"duplicate provider name 'same'") as info:
        ProviderRegistry(discover(package))
    assert "pkg_dup.first.First" in str(info.value)
    assert "pkg_dup.second.Second" in str(info.value)


@pytest.mark.parametrize("bad", ["", "Upper", "has-dash", "x" * 51, None])
def test_invalid_names_are_refused(bad: object) -> None:
    cls = type("Bad", (DemoProvider,), {"name": bad, "path": "x"})
    with pytest.raises(ProviderRegistryError, match="needs a `name`"):
        ProviderRegistry([cls])


@pytest.mark.parametrize(
    "attribute",
    [
        "policy",
        "policies",
        "policy_overides",
        "polcy_overrides",
        "POLICY_OVERRIDES",
        "overrides",
        "retry_policy",
    ],
)
def test_a_policy_attribute_nothing_reads_stops_start_up(tmp_path: Path, attribute: str) -> None:
    package = make_package(
        tmp_path,
        f"pkg_{attribute.lower()}",
        {
            "gamma": f"""
                from app.integrations.providers._demo import DemoProvider

                class Gamma(DemoProvider):
                    name = "gamma"
                    path = "x"
                    {attribute} = {{"retries": 0}}
            """
        },
    )
    with pytest.raises(ProviderRegistryError) as info:
        ProviderRegistry.from_package(package)
    message = str(info.value)
    assert f".gamma.Gamma defines `{attribute}`, which nothing reads" in message
    assert 'goes in `policy_overrides`, e.g. policy_overrides = {"retries": 0}' in message


def test_an_unread_policy_attribute_on_a_base_class_is_found_too() -> None:
    base = type("Base", (DemoProvider,), {"policy": {"retries": 0}})
    cls = type("Leaf", (base,), {"name": "leaf", "path": "x"})
    with pytest.raises(ProviderRegistryError, match=r"Leaf defines `policy`"):
        ProviderRegistry([cls])


def test_policy_overrides_is_read() -> None:
    overrides = {"retries": 0}
    cls = type("Ok", (DemoProvider,), {"name": "ok", "path": "x", "policy_overrides": overrides})
    assert ProviderRegistry([cls]).names == ["ok"]
