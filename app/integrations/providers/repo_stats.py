"""Popularity and activity of a source code repository."""

from datetime import datetime

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class RepoStats(BaseModel):
    full_name: str
    stars: int
    forks: int
    open_issues: int
    language: str | None
    topics: list[str]
    pushed_at: datetime


class RepoStatsProvider(DemoProvider):
    name = "repo_stats"
    description = "Stars, forks, open issues and topics of a code repository."
    path = "repos"
    query = {"repo": "python/cpython"}
    response_model = RepoStats
