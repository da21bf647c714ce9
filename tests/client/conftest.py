from collections.abc import Iterator

import pytest

from tests.client.scripted_server import ScriptedServer, scripted_server


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server on a loopback port of its own (tests/client/scripted_server.py)."""
    with scripted_server() as running:
        yield running
