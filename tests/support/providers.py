"""The providers the tests' apps serve: the 20 bundled demo providers, named one by one.

`create_app` without a registry serves whatever modules sit in app/integrations/providers/.
Tests pass `registry=demo_registry()` instead, so a provider added there (one that calls a
real host, say) changes nothing any test calls, counts or lists.
"""

from pathlib import Path

from app.integrations.files import load_directory
from app.integrations.providers._demo import DemoProvider
from app.integrations.providers.air_quality import AirQualityProvider
from app.integrations.providers.book_lookup import BookLookupProvider
from app.integrations.providers.crypto_prices import CryptoPricesProvider
from app.integrations.providers.exchange_rates import ExchangeRatesProvider
from app.integrations.providers.flight_status import FlightStatusProvider
from app.integrations.providers.geocoding import GeocodingProvider
from app.integrations.providers.ip_lookup import IpLookupProvider
from app.integrations.providers.movie_info import MovieInfoProvider
from app.integrations.providers.news_headlines import NewsHeadlinesProvider
from app.integrations.providers.package_downloads import PackageDownloadsProvider
from app.integrations.providers.parcel_tracking import ParcelTrackingProvider
from app.integrations.providers.public_holidays import PublicHolidaysProvider
from app.integrations.providers.repo_stats import RepoStatsProvider
from app.integrations.providers.sentiment import SentimentProvider
from app.integrations.providers.sports_scores import SportsScoresProvider
from app.integrations.providers.stock_quotes import StockQuotesProvider
from app.integrations.providers.time_zone import TimeZoneProvider
from app.integrations.providers.translation import TranslationProvider
from app.integrations.providers.vat_rates import VatRatesProvider
from app.integrations.providers.weather import WeatherProvider
from app.integrations.registry import ProviderRegistry

DEMO_PROVIDERS: tuple[type[DemoProvider], ...] = (
    AirQualityProvider,
    BookLookupProvider,
    CryptoPricesProvider,
    ExchangeRatesProvider,
    FlightStatusProvider,
    GeocodingProvider,
    IpLookupProvider,
    MovieInfoProvider,
    NewsHeadlinesProvider,
    PackageDownloadsProvider,
    ParcelTrackingProvider,
    PublicHolidaysProvider,
    RepoStatsProvider,
    SentimentProvider,
    SportsScoresProvider,
    StockQuotesProvider,
    TimeZoneProvider,
    TranslationProvider,
    VatRatesProvider,
    WeatherProvider,
)
DEMO_NAMES: list[str] = sorted(cls.name for cls in DEMO_PROVIDERS)


def demo_registry() -> ProviderRegistry:
    """The demo providers and nothing else, whatever else the providers package holds."""
    return ProviderRegistry(DEMO_PROVIDERS)


def with_files(directory: Path, *, demo: bool = True) -> ProviderRegistry:
    """The demo providers (unless `demo` is false) and the provider files of `directory`:
    what `create_app` would load with PROVIDERS_DIR=directory, minus other provider modules."""
    return ProviderRegistry([*(DEMO_PROVIDERS if demo else ()), *load_directory(directory)])
