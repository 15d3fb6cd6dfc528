"""The demo server's description names every tool the demo server starts with."""

from __future__ import annotations

import asyncio
from io import StringIO

import pytest
from django.core.management import call_command

from mcp_servers import demo
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db

DEMO_TOOLS = (
    "draw_dot", "draw_dash", "draw_picture", "echo", "add", "current_time", "wait", "count", "forecast", "reveal_bonus",
)  # fmt: skip


def test_it_describes_every_tool_of_the_demo_server():
    assert {tool.name for tool in asyncio.run(demo.server.list_tools())} == set(DEMO_TOOLS)
    call_command("setup_demo", stdout=StringIO())
    description = MCPServer.objects.get(name="demo").description
    for name in DEMO_TOOLS:
        assert f"`{name}`" in description, name


def test_it_brings_an_earlier_setups_description_up_to_date_but_keeps_an_admins_own():
    server = MCPServer.objects.create(
        name="demo", description="The bundled demo MCP server (draw_dot, draw_dash, add, current_time, wait)."
    )
    call_command("setup_demo", stdout=StringIO())
    server.refresh_from_db()
    assert "`reveal_bonus`" in server.description
    server.description = "Our own words."
    server.save()
    call_command("setup_demo", stdout=StringIO())
    server.refresh_from_db()
    assert server.description == "Our own words."
