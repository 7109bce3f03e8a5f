"""A real ``redis-server`` (Debian's package) on a free loopback port, with no persistence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.redis.server import RedisServer, free_port
from tests.services import require_binary

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = require_binary("redis-server", debian_package="redis-server")
    server = RedisServer(binary, tmp_path)
    for attempt in range(3):  # a free port can be taken between the probe and the bind: try another
        try:
            server.start()
            break
        except RuntimeError:
            server.kill()
            if attempt == 2:
                raise
            server.port = free_port()
    yield server
    server.kill()
