"""Value-added tax rates of a country."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class VatRates(BaseModel):
    country_code: str
    currency: str
    standard_rate: float
    reduced_rates: list[float]


class VatRatesProvider(DemoProvider):
    name = "vat_rates"
    description = "Standard and reduced VAT rates that apply in a country."
    path = "rates"
    query = {"country": "DE"}
    response_model = VatRates
