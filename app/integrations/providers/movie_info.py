"""Details and rating of a movie."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Rating(BaseModel):
    source: str
    value: float
    votes: int


class MovieInfo(BaseModel):
    title: str
    year: int
    runtime_minutes: int
    genres: list[str]
    rating: Rating


class MovieInfoProvider(DemoProvider):
    name = "movie_info"
    description = "Release year, runtime, genres and audience rating of a movie."
    path = "movie"
    query = {"title": "Parasite"}
    response_model = MovieInfo
