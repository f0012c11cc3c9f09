"""Every demo provider honours `ProviderContract` (see contract.py)."""

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
from tests.support.providers import DEMO_PROVIDERS

from .contract import ProviderContract


class TestWeather(ProviderContract):
    provider_cls = WeatherProvider
    sample_params = {"city": "Busan", "units": "imperial"}


class TestAirQuality(ProviderContract):
    provider_cls = AirQualityProvider
    sample_params = {"city": "Daegu"}


class TestExchangeRates(ProviderContract):
    provider_cls = ExchangeRatesProvider
    sample_params = {"base": "EUR", "symbols": "USD,GBP"}


class TestCryptoPrices(ProviderContract):
    provider_cls = CryptoPricesProvider
    sample_params = {"ids": "solana", "vs_currency": "krw"}


class TestStockQuotes(ProviderContract):
    provider_cls = StockQuotesProvider
    sample_params = {"symbols": "NVDA,TSLA"}


class TestNewsHeadlines(ProviderContract):
    provider_cls = NewsHeadlinesProvider
    sample_params = {"country": "us", "category": "science"}


class TestGeocoding(ProviderContract):
    provider_cls = GeocodingProvider
    sample_params = {"q": "Jeju"}


class TestTimeZone(ProviderContract):
    provider_cls = TimeZoneProvider
    sample_params = {"zone": "Europe/Berlin"}


class TestPublicHolidays(ProviderContract):
    provider_cls = PublicHolidaysProvider
    sample_params = {"country": "DE", "year": 2026}


class TestFlightStatus(ProviderContract):
    provider_cls = FlightStatusProvider
    sample_params = {"flight": "OZ202"}


class TestParcelTracking(ProviderContract):
    provider_cls = ParcelTrackingProvider
    sample_params = {"tracking_number": "JD014600006281"}


class TestVatRates(ProviderContract):
    provider_cls = VatRatesProvider
    sample_params = {"country": "FR"}


class TestIpLookup(ProviderContract):
    provider_cls = IpLookupProvider
    sample_params = {"ip": "1.1.1.1"}


class TestTranslation(ProviderContract):
    provider_cls = TranslationProvider
    sample_params = {"text": "good morning", "target": "ja"}


class TestSentiment(ProviderContract):
    provider_cls = SentimentProvider
    sample_params = {"text": "Terrible wait times."}


class TestRepoStats(ProviderContract):
    provider_cls = RepoStatsProvider
    sample_params = {"repo": "encode/httpx"}


class TestPackageDownloads(ProviderContract):
    provider_cls = PackageDownloadsProvider
    sample_params = {"package": "orjson"}


class TestSportsScores(ProviderContract):
    provider_cls = SportsScoresProvider
    sample_params = {"league": "epl"}


class TestMovieInfo(ProviderContract):
    provider_cls = MovieInfoProvider
    sample_params = {"title": "Oldboy"}


class TestBookLookup(ProviderContract):
    provider_cls = BookLookupProvider
    sample_params = {"isbn": "9780199535569"}


def test_every_demo_provider_has_a_contract_test() -> None:
    tested = {cls.provider_cls for cls in ProviderContract.__subclasses__()}
    assert len(DEMO_PROVIDERS) == 20
    assert set(DEMO_PROVIDERS) <= tested
