"""Public holidays of a country in a year."""

from datetime import date

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Holiday(BaseModel):
    date: date
    name: str
    local_name: str
    nationwide: bool


class PublicHolidays(BaseModel):
    country_code: str
    year: int
    holidays: list[Holiday]


class PublicHolidaysProvider(DemoProvider):
    name = "public_holidays"
    description = "The public holidays a country observes in a given year."
    path = "holidays"
    query = {"country": "KR", "year": "2025"}
    response_model = PublicHolidays
