"""Payload factories of the simulated APIs, one per demo provider.

Each answers a JSON object that matches its provider's response model (the simulator tests
hold them to it) without importing the providers: the simulator stands in for foreign services.
"""

import random
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

Payload = dict[str, Any]
Query = Mapping[str, str]
PayloadFactory = Callable[[random.Random, Query], Payload]


def _ago(**delta: int) -> str:
    """ISO 8601 time of now minus `delta` (timedelta keywords; negative means ahead)."""
    return (datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)).isoformat()


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _weather(rng: random.Random, q: Query) -> Payload:
    temp = round(rng.uniform(-10, 35), 1)
    wind = {"speed_kmh": round(rng.uniform(0, 60), 1), "direction_deg": rng.randrange(360)}
    return {
        "city": q.get("city", "Seoul"),
        "temperature_c": temp,
        "feels_like_c": round(temp + rng.uniform(-4, 2), 1),
        "humidity_pct": rng.randint(15, 100),
        "conditions": rng.choice(["clear", "cloudy", "rain", "snow", "fog"]),
        "wind": wind,
        "observed_at": _ago(),
    }


def _air_quality(rng: random.Random, q: Query) -> Payload:
    aqi = rng.randint(5, 300)
    units = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppb", "no2": "ppb"}
    return {
        "city": q.get("city", "Seoul"),
        "aqi": aqi,
        "category": "good" if aqi <= 50 else "moderate" if aqi <= 100 else "unhealthy",
        "pollutants": [
            {"name": name, "value": round(rng.uniform(1, 150), 1), "unit": unit}
            for name, unit in units.items()
        ],
        "measured_at": _ago(minutes=rng.randint(0, 59)),
    }


def _exchange_rates(rng: random.Random, q: Query) -> Payload:
    symbols = _csv(q.get("symbols") or "EUR,KRW,JPY")
    rates = {s.upper(): round(rng.uniform(0.1, 1500), 4) for s in symbols}
    return {"base": q.get("base", "USD").upper(), "date": date.today().isoformat(), "rates": rates}


def _coin(rng: random.Random, coin: str) -> Payload:
    price = round(rng.uniform(0.05, 90_000), 2)
    return {
        "id": coin,
        "symbol": coin[:3].upper(),
        "price": price,
        "change_24h_pct": round(rng.uniform(-12, 12), 2),
        "market_cap": round(price * rng.uniform(1e6, 2e7)),
    }


def _crypto_prices(rng: random.Random, q: Query) -> Payload:
    prices = [_coin(rng, coin) for coin in _csv(q.get("ids") or "bitcoin,ethereum")]
    return {"vs_currency": q.get("vs_currency", "usd"), "prices": prices, "updated_at": _ago()}


def _stock_quotes(rng: random.Random, q: Query) -> Payload:
    quotes = [
        {
            "symbol": symbol.upper(),
            "price": round(rng.uniform(5, 900), 2),
            "currency": "USD",
            "change_pct": round(rng.uniform(-5, 5), 2),
            "volume": rng.randint(10_000, 90_000_000),
        }
        for symbol in _csv(q.get("symbols") or "AAPL,MSFT")
    ]
    return {"quotes": quotes, "as_of": _ago()}


def _stock_quotes_drift(payload: Payload) -> Payload:
    # What real upstreams do after an unannounced release: a sentinel string where a number
    # was, and a field renamed away.
    for quote in payload["quotes"]:
        quote["price"] = "N/A"
        quote["ccy"] = quote.pop("currency")
    return payload


def _news_headlines(rng: random.Random, q: Query) -> Payload:
    topic = q.get("category", "technology")
    outlets = [{"id": "yonhap", "name": "Yonhap"}, {"id": None, "name": "Local Daily"}]
    articles = [
        {
            "title": f"{topic.title()} update #{rng.randint(100, 999)}",
            "source": rng.choice(outlets),
            "url": f"https://news.example/{topic}/{i}",
            "published_at": _ago(minutes=rng.randint(1, 600)),
        }
        for i in range(rng.randint(2, 5))
    ]
    return {"total_results": len(articles) + rng.randint(0, 50), "articles": articles}


def _geocoding(rng: random.Random, q: Query) -> Payload:
    name = q.get("q", "Seoul")
    results = [
        {
            "name": f"{name}{suffix}",
            "country_code": rng.choice(["KR", "US", "DE", "JP"]),
            "location": {
                "lat": round(rng.uniform(-90, 90), 5),
                "lon": round(rng.uniform(-180, 180), 5),
            },
            "confidence": round(rng.uniform(0.3, 1.0), 2),
        }
        for suffix in ("", " Station", " District")[: rng.randint(1, 3)]
    ]
    return {"query": name, "results": results}


def _time_zone(rng: random.Random, q: Query) -> Payload:
    offset_minutes = rng.choice([-480, -300, 0, 60, 120, 330, 480, 540])
    return {
        "zone": q.get("zone", "Asia/Seoul"),
        "abbreviation": rng.choice(["KST", "UTC", "CET", "PST", "IST"]),
        "utc_offset_seconds": offset_minutes * 60,
        "dst": rng.random() < 0.3,
        "local_time": _ago(minutes=-offset_minutes)[:19],
    }


def _public_holidays(rng: random.Random, q: Query) -> Payload:
    year = int(q["year"]) if q.get("year", "").isdigit() else 2025
    names = [(1, "New Year's Day"), (3, "Independence Movement Day"), (5, "Labour Day")]
    holidays = [
        {
            "date": date(year, month, rng.randint(1, 28)).isoformat(),
            "name": name,
            "local_name": name.upper(),
            "nationwide": rng.random() < 0.8,
        }
        for month, name in names
    ]
    return {"country_code": q.get("country", "KR").upper(), "year": year, "holidays": holidays}


def _flight_status(rng: random.Random, q: Query) -> Payload:
    delay = rng.choice([0, 0, 0, 15, 45, 120])
    departs = rng.randint(-300, 300)

    def leg(airport: str, minutes_ahead: int) -> Payload:
        return {
            "airport": airport,
            "scheduled": _ago(minutes=-minutes_ahead),
            "estimated": _ago(minutes=-minutes_ahead - delay),
            "gate": rng.choice([None, f"{rng.choice('ABCE')}{rng.randint(1, 40)}"]),
        }

    return {
        "flight": q.get("flight", "KE17").upper(),
        "status": "delayed" if delay else rng.choice(["scheduled", "boarding", "in_air", "landed"]),
        "departure": leg("ICN", departs),
        "arrival": leg("LAX", departs + rng.randint(60, 720)),
        "delay_minutes": delay,
    }


def _parcel_tracking(rng: random.Random, q: Query) -> Payload:
    steps = ["Label created", "Picked up", "In transit", "Out for delivery", "Delivered"]
    count = rng.randint(1, len(steps))
    events = [
        {
            "timestamp": _ago(hours=24 * (count - i) - rng.randint(0, 20)),
            "location": rng.choice(["Incheon", "Busan", "Daejeon", "Seoul"]),
            "description": step,
        }
        for i, step in enumerate(steps[:count])
    ]
    return {
        "tracking_number": q.get("tracking_number", "1Z999AA10123456784"),
        "carrier": rng.choice(["UPS", "DHL", "CJ Logistics"]),
        "status": steps[count - 1].lower().replace(" ", "_"),
        "events": events,
    }


def _vat_rates(rng: random.Random, q: Query) -> Payload:
    return {
        "country_code": q.get("country", "DE").upper(),
        "currency": rng.choice(["EUR", "KRW", "GBP"]),
        "standard_rate": float(rng.choice([10, 19, 20, 21, 25])),
        "reduced_rates": sorted(float(r) for r in rng.sample([5, 7, 9, 10, 13], rng.randint(0, 3))),
    }


def _ip_lookup(rng: random.Random, q: Query) -> Payload:
    return {
        "ip": q.get("ip", "8.8.8.8"),
        "country_code": rng.choice(["US", "KR", "DE"]),
        "city": rng.choice(["Mountain View", "Seoul", "Frankfurt"]),
        "asn": {"number": rng.randint(1, 65000), "org": rng.choice(["GOOGLE", "KT", "Hetzner"])},
        "is_proxy": rng.random() < 0.1,
    }


def _translation(rng: random.Random, q: Query) -> Payload:
    text = q.get("text", "hello world")
    return {
        "source_lang": q.get("source", "en"),
        "target_lang": q.get("target", "ko"),
        "text": text,
        "translated_text": text[::-1],
        "confidence": round(rng.uniform(0.6, 1.0), 3),
    }


def _sentiment(rng: random.Random, q: Query) -> Payload:
    raw = [rng.random() + 0.01 for _ in range(3)]
    labels = ("positive", "neutral", "negative")
    scores = {k: round(r / sum(raw), 4) for k, r in zip(labels, raw, strict=True)}
    label = max(scores, key=lambda k: scores[k])
    return {"label": label, "score": scores[label], "scores": scores}


def _repo_stats(rng: random.Random, q: Query) -> Payload:
    return {
        "full_name": q.get("repo", "python/cpython"),
        "stars": rng.randint(0, 200_000),
        "forks": rng.randint(0, 40_000),
        "open_issues": rng.randint(0, 9_000),
        "language": rng.choice(["Python", "Rust", "Go", None]),
        "topics": rng.sample(["http", "async", "cli", "api", "database"], k=rng.randint(0, 3)),
        "pushed_at": _ago(hours=rng.randint(0, 2000)),
    }


def _package_downloads(rng: random.Random, q: Query) -> Payload:
    days = [date.today() - timedelta(days=d) for d in range(7, 0, -1)]
    counts = {day: rng.randint(1_000, 900_000) for day in days}
    return {
        "package": q.get("package", "httpx"),
        "period": q.get("period", "last-week"),
        "total": sum(counts.values()),
        "daily": [{"day": day.isoformat(), "downloads": n} for day, n in counts.items()],
    }


def _sports_scores(rng: random.Random, q: Query) -> Payload:
    teams = rng.sample(["Tigers", "Lions", "Bears", "Giants", "Eagles", "Twins"], k=6)
    games = [
        {
            "id": f"g{rng.randint(1000, 9999)}",
            "status": rng.choice(["scheduled", "live", "final"]),
            "home": {"team": home, "score": rng.randint(0, 12)},
            "away": {"team": away, "score": rng.randint(0, 12)},
        }
        for home, away in zip(teams[::2], teams[1::2], strict=True)
    ]
    return {"league": q.get("league", "kbo"), "games": games}


def _movie_info(rng: random.Random, q: Query) -> Payload:
    votes = rng.randint(100, 2_000_000)
    return {
        "title": q.get("title", "Parasite"),
        "year": rng.randint(1950, 2025),
        "runtime_minutes": rng.randint(80, 200),
        "genres": rng.sample(["drama", "thriller", "comedy", "sci-fi", "horror"], k=2),
        "rating": {"source": "demo", "value": round(rng.uniform(3, 9.8), 1), "votes": votes},
    }


def _book_lookup(rng: random.Random, q: Query) -> Payload:
    return {
        "isbn": q.get("isbn", "9780140449136"),
        "title": rng.choice(["Crime and Punishment", "The Odyssey", "Meditations"]),
        "authors": rng.sample(["F. Dostoevsky", "Homer", "Marcus Aurelius", "E. Wilson"], k=1),
        "publisher": rng.choice(["Penguin Classics", "Vintage", "Oxford"]),
        "published_year": rng.randint(1950, 2024),
        "page_count": rng.randint(150, 900),
    }
