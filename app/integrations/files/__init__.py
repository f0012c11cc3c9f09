"""Providers declared in YAML files (`PROVIDERS_DIR`): the format (`spec`), its templates
(`template`), the provider class (`provider`) and the directory loader (`loader`)."""

from app.integrations.files.loader import ProviderFileError, load_directory, load_file
from app.integrations.files.provider import FileProvider, SecretFieldError
from app.integrations.files.spec import ProviderFile, json_schema

__all__ = [
    "FileProvider",
    "ProviderFile",
    "ProviderFileError",
    "SecretFieldError",
    "json_schema",
    "load_directory",
    "load_file",
]
