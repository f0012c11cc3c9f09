"""Tracking history of a parcel."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class TrackingEvent(BaseModel):
    timestamp: datetime
    location: str
    description: str


class ParcelTracking(BaseModel):
    tracking_number: str
    carrier: str
    status: str
    events: list[TrackingEvent]


class ParcelTrackingProvider(DemoProvider):
    name = "parcel_tracking"
    description = "Carrier, delivery status and scan history of a parcel."
    path = "track"
    query = {"tracking_number": "1Z999AA10123456784"}
    response_model = ParcelTracking
