"""Settings: every field documented, URLs normalised to the driver we ship."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_env_example_and_the_configuration_page() -> None:
    example = (ROOT / ".env.example").read_text()
    reference = (ROOT / "docs" / "configuration.md").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields == listed
    # A row of one of the page's tables, not a mention in passing.
    missing = sorted(f for f in fields if f"| `{f}` |" not in reference)
    assert not missing, f"docs/configuration.md's tables lack {missing}"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls_use_psycopg3(scheme: str) -> None:
    settings = Settings(database_url=f"{scheme}://u@h/db", _env_file=None)
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_bad_values_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="request_timeout_ms"):
        Settings(request_timeout_ms=0, _env_file=None)


@pytest.mark.parametrize(
    "template", ["jaeger:16686/trace/{trace_id}", "http://jaeger:16686/trace/", "javascript:x"]
)
def test_a_trace_link_template_must_be_a_web_address_with_the_trace_id(template: str) -> None:
    with pytest.raises(ValidationError, match=r"trace_url_template[\s\S]*\{trace_id\}"):
        Settings(trace_url_template=template, _env_file=None)


def test_a_trace_link_template_is_kept_and_empty_means_none() -> None:
    template = "https://tempo.example/explore?trace={trace_id}"
    assert Settings(trace_url_template=template, _env_file=None).trace_url_template == template
    assert Settings(trace_url_template="", _env_file=None).trace_url_template is None
