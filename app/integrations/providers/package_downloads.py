"""Download counts of a software package."""

from datetime import date

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class DailyCount(BaseModel):
    day: date
    downloads: int


class PackageDownloads(BaseModel):
    package: str
    period: str
    total: int
    daily: list[DailyCount]


class PackageDownloadsProvider(DemoProvider):
    name = "package_downloads"
    description = "Total and per-day download counts of a package over a period."
    path = "downloads"
    query = {"package": "httpx", "period": "last-week"}
    response_model = PackageDownloads
