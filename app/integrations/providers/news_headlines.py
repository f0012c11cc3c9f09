"""Top news headlines for a country and category."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Source(BaseModel):
    id: str | None
    name: str


class Article(BaseModel):
    title: str
    source: Source
    url: str
    published_at: datetime


class NewsHeadlines(BaseModel):
    total_results: int
    articles: list[Article]


class NewsHeadlinesProvider(DemoProvider):
    name = "news_headlines"
    description = "Top headlines for a country and news category."
    path = "top-headlines"
    query = {"country": "kr", "category": "technology"}
    response_model = NewsHeadlines
