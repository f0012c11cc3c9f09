"""Stock quotes; the simulator makes this upstream drift from its schema on purpose."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Quote(BaseModel):
    symbol: str
    price: float
    currency: str
    change_pct: float
    volume: int


class StockQuotes(BaseModel):
    quotes: list[Quote]
    as_of: datetime


class StockQuotesProvider(DemoProvider):
    name = "stock_quotes"
    description = "Last price, daily change and volume for a list of ticker symbols."
    path = "quote"
    query = {"symbols": "AAPL,MSFT"}
    response_model = StockQuotes
