"""Current weather for a city."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Wind(BaseModel):
    speed_kmh: float
    direction_deg: int


class WeatherReport(BaseModel):
    city: str
    temperature_c: float
    feels_like_c: float
    humidity_pct: int
    conditions: str
    wind: Wind
    observed_at: datetime


class WeatherProvider(DemoProvider):
    name = "weather"
    description = "Current temperature, humidity, wind and conditions for a city."
    path = "current"
    query = {"city": "Seoul", "units": "metric"}
    response_model = WeatherReport
