"""Live status of a flight."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class FlightLeg(BaseModel):
    airport: str
    scheduled: datetime
    estimated: datetime
    gate: str | None


class FlightStatus(BaseModel):
    flight: str
    status: str
    departure: FlightLeg
    arrival: FlightLeg
    delay_minutes: int


class FlightStatusProvider(DemoProvider):
    name = "flight_status"
    description = "Status, gates and scheduled versus estimated times of a flight."
    path = "flights"
    query = {"flight": "KE17"}
    response_model = FlightStatus
