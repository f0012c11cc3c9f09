"""Geolocation and network owner of an IP address."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Asn(BaseModel):
    number: int
    org: str


class IpLookup(BaseModel):
    ip: str
    country_code: str
    city: str
    asn: Asn
    is_proxy: bool


class IpLookupProvider(DemoProvider):
    name = "ip_lookup"
    description = "Country, city and autonomous system of an IP address."
    path = "json"
    query = {"ip": "8.8.8.8"}
    response_model = IpLookup
