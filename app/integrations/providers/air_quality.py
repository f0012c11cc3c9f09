"""Latest air quality index and pollutant readings for a city."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Pollutant(BaseModel):
    name: str
    value: float
    unit: str


class AirQualityReport(BaseModel):
    city: str
    aqi: int
    category: str
    pollutants: list[Pollutant]
    measured_at: datetime


class AirQualityProvider(DemoProvider):
    name = "air_quality"
    description = "Air quality index and pollutant concentrations measured in a city."
    path = "latest"
    query = {"city": "Seoul"}
    response_model = AirQualityReport
