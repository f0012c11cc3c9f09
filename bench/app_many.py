"""The service with 100 generated providers: `uvicorn bench.app_many:app` (see providers.py)."""

from app.main import create_app
from bench.providers import registry

app = create_app(registry=registry("many"))
