"""Foreign exchange rates against a base currency."""

from datetime import date

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class ExchangeRates(BaseModel):
    base: str
    date: date
    rates: dict[str, float]


class ExchangeRatesProvider(DemoProvider):
    name = "exchange_rates"
    description = "Latest exchange rates from a base currency to a list of symbols."
    path = "latest"
    query = {"base": "USD", "symbols": "EUR,KRW,JPY"}
    response_model = ExchangeRates
