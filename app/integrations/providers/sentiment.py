"""Sentiment analysis of a short text."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class SentimentScores(BaseModel):
    positive: float
    neutral: float
    negative: float


class SentimentAnalysis(BaseModel):
    label: str
    score: float
    scores: SentimentScores


class SentimentProvider(DemoProvider):
    name = "sentiment"
    description = "Classifies a text as positive, neutral or negative, with scores."
    path = "analyze"
    query = {"text": "The service was quick and friendly."}
    response_model = SentimentAnalysis
