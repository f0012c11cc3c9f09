"""Today's scores in a sports league."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class TeamScore(BaseModel):
    team: str
    score: int


class Game(BaseModel):
    id: str
    status: str
    home: TeamScore
    away: TeamScore


class SportsScores(BaseModel):
    league: str
    games: list[Game]


class SportsScoresProvider(DemoProvider):
    name = "sports_scores"
    description = "Live and final scores of today's games in a league."
    path = "scores"
    query = {"league": "kbo"}
    response_model = SportsScores
