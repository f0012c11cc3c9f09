"""What each simulated API answers, and how slowly.

Payloads match the response models of `app.integrations.providers` (tests hold them to it),
but this module does not import them: the simulator stands in for *foreign* services.

`stock_quotes` is the one API that drifts: with probability `drift_rate` its quotes carry
`price: "N/A"` and lose their `currency` field, so schema validation visibly fails in demos.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from app.simulator.payloads import (
    Payload,
    PayloadFactory,
    Query,
    _air_quality,
    _book_lookup,
    _crypto_prices,
    _exchange_rates,
    _flight_status,
    _geocoding,
    _ip_lookup,
    _movie_info,
    _news_headlines,
    _package_downloads,
    _parcel_tracking,
    _public_holidays,
    _repo_stats,
    _sentiment,
    _sports_scores,
    _stock_quotes,
    _stock_quotes_drift,
    _time_zone,
    _translation,
    _vat_rates,
    _weather,
)

__all__ = ["CATALOG", "DRIFTING", "Endpoint", "Payload", "Query", "build_payload"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    latency_ms: float
    factory: PayloadFactory
    drift: Callable[[Payload], Payload] | None = None


# Base latencies differ on purpose, so a fan-out shows fast and slow APIs side by side.
CATALOG: dict[str, Endpoint] = {
    "weather": Endpoint(40, _weather),
    "air_quality": Endpoint(55, _air_quality),
    "exchange_rates": Endpoint(20, _exchange_rates),
    "crypto_prices": Endpoint(30, _crypto_prices),
    "stock_quotes": Endpoint(45, _stock_quotes, drift=_stock_quotes_drift),
    "news_headlines": Endpoint(90, _news_headlines),
    "geocoding": Endpoint(25, _geocoding),
    "time_zone": Endpoint(5, _time_zone),
    "public_holidays": Endpoint(10, _public_holidays),
    "flight_status": Endpoint(110, _flight_status),
    "parcel_tracking": Endpoint(75, _parcel_tracking),
    "vat_rates": Endpoint(8, _vat_rates),
    "ip_lookup": Endpoint(15, _ip_lookup),
    "translation": Endpoint(120, _translation),
    "sentiment": Endpoint(65, _sentiment),
    "repo_stats": Endpoint(35, _repo_stats),
    "package_downloads": Endpoint(50, _package_downloads),
    "sports_scores": Endpoint(60, _sports_scores),
    "movie_info": Endpoint(80, _movie_info),
    "book_lookup": Endpoint(45, _book_lookup),
}

DRIFTING = frozenset(name for name, endpoint in CATALOG.items() if endpoint.drift is not None)


def build_payload(name: str, rng: random.Random, query: Query | None = None) -> Payload:
    """A schema-conforming payload for `name` (KeyError if the simulator has no such API)."""
    return CATALOG[name].factory(rng, query or {})
