"""Forward geocoding: place names to coordinates."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Coordinates(BaseModel):
    lat: float
    lon: float


class Place(BaseModel):
    name: str
    country_code: str
    location: Coordinates
    confidence: float


class GeocodingResult(BaseModel):
    query: str
    results: list[Place]


class GeocodingProvider(DemoProvider):
    name = "geocoding"
    description = "Candidate places with coordinates for a free-text location query."
    path = "search"
    query = {"q": "Seoul"}
    response_model = GeocodingResult
