from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, redis_server


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (never the machine's shared one)."""
    yield from redis_server(tmp_path)
