"""Database models. Import `Base.metadata` from here to see every table."""

from app.models.base import Base
from app.models.external_api_log import ExternalApiLog
from app.models.external_api_log_rollup import ROLLUP_BUCKET_S, ExternalApiLogRollup

__all__ = ["ROLLUP_BUCKET_S", "Base", "ExternalApiLog", "ExternalApiLogRollup"]
