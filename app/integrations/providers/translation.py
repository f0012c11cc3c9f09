"""Machine translation of a short text."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class Translation(BaseModel):
    source_lang: str
    target_lang: str
    text: str
    translated_text: str
    confidence: float


class TranslationProvider(DemoProvider):
    name = "translation"
    description = "Translates a short text from a source to a target language."
    path = "translate"
    query = {"text": "hello world", "source": "en", "target": "ko"}
    response_model = Translation
