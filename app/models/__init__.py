"""Database models. Import `Base.metadata` from here to see every table."""

from app.models.base import Base
from app.models.external_api_log import ExternalApiLog

__all__ = ["Base", "ExternalApiLog"]
