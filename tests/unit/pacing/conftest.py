"""A real ``redis-server`` (Debian's package) on a free loopback port, with no persistence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.redis_server import RedisServer, start_redis
from tests.support.services import require_binary

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(require_binary("redis-server", debian_package="redis-server"), tmp_path)
    yield server
    server.kill()
