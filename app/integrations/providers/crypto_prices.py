"""Spot prices of crypto coins in a fiat currency."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class CoinPrice(BaseModel):
    id: str
    symbol: str
    price: float
    change_24h_pct: float
    market_cap: float


class CryptoPrices(BaseModel):
    vs_currency: str
    prices: list[CoinPrice]
    updated_at: datetime


class CryptoPricesProvider(DemoProvider):
    name = "crypto_prices"
    description = "Current price, 24h change and market cap of crypto coins."
    path = "simple/price"
    query = {"ids": "bitcoin,ethereum", "vs_currency": "usd"}
    response_model = CryptoPrices
