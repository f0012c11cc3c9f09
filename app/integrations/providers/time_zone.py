"""Current offset and local time of an IANA time zone."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class TimeZoneInfo(BaseModel):
    zone: str
    abbreviation: str
    utc_offset_seconds: int
    dst: bool
    local_time: datetime


class TimeZoneProvider(DemoProvider):
    name = "time_zone"
    description = "UTC offset, DST flag and local time of an IANA time zone."
    path = "lookup"
    query = {"zone": "Asia/Seoul"}
    response_model = TimeZoneInfo
