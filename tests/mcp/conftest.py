from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_servers.pool import get_pool
from tests.live import Server, Site, daphne, site_create


@pytest.fixture
async def close_pool():
    """Close the demo MCP server connections a run opened on this test's event loop."""
    yield
    await get_pool().close_all()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return site_create(tmp_path_factory.mktemp("switchboard-mcp"))


@pytest.fixture(scope="module")
def daphne_server(site: Site) -> Iterator[Server]:
    with daphne(site) as server:
        yield server
