"""`import_mcp_servers` and `export_mcp_servers`: the mcpServers format from the command line."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from mcp_servers.config_io import MAX_BYTES
from mcp_servers.management.commands.import_mcp_servers import Command as ImportCommand
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db

T = MCPServer.Transport

SAMPLE = {
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/data"],
            "env": {"API_TOKEN": "tok-secret-1"},
        },
        "Remote Search": {"url": "https://search.example/mcp", "headers": {"Authorization": "Bearer hdr-secret-2"}},
        "legacy": {"type": "sse", "url": "http://127.0.0.1:3001/sse"},
        "streaming": {"type": "streamable-http", "url": "http://127.0.0.1:3001/mcp"},
        "live": {"url": "wss://live.example/mcp", "autoApprove": ["x"]},
        "socket": {"type": "ws", "url": "ws://127.0.0.1:9000/"},
    }
}


def write(tmp_path, document) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    return list(MCPServer.objects.order_by("name").values_list("name", "transport", "command", "url", "updated_at"))


def test_it_creates_the_servers_of_a_sample_file(tmp_path):
    output = run("import_mcp_servers", write(tmp_path, SAMPLE))
    assert "Created 6, updated 0 MCP server(s)." in output
    servers = {s.name: s for s in MCPServer.objects.all()}
    assert {name: s.transport for name, s in servers.items()} == {
        "filesystem": T.STDIO,
        "remote-search": T.STREAMABLE_HTTP,
        "legacy": T.SSE,
        "streaming": T.STREAMABLE_HTTP,
        "live": T.WEBSOCKET,
        "socket": T.WEBSOCKET,
    }
    files = servers["filesystem"]
    assert (files.command, files.args, files.env) == (
        "npx",
        ["-y", "@modelcontextprotocol/server-filesystem", "/data"],
        {"API_TOKEN": "tok-secret-1"},
    )
    assert servers["remote-search"].headers == {"Authorization": "Bearer hdr-secret-2"}
    assert servers["live"].url == "wss://live.example/mcp"


def test_it_updates_servers_by_name_and_keeps_settings_the_format_lacks(tmp_path, demo_server):
    demo_server.call_timeout = 42
    demo_server.save()
    output = run("import_mcp_servers", write(tmp_path, {"mcpServers": {"demo": {"url": "http://127.0.0.1:1/mcp"}}}))
    assert "Created 0, updated 1 MCP server(s)." in output
    demo_server.refresh_from_db()
    assert (demo_server.transport, demo_server.url, demo_server.command) == (
        T.STREAMABLE_HTTP,
        "http://127.0.0.1:1/mcp",
        "",
    )
    assert demo_server.call_timeout == 42


def test_it_shows_changes_on_a_dry_run_and_changes_nothing(tmp_path, demo_server):
    before = snapshot()
    document = {
        "mcpServers": {"demo": {"command": "python3", "args": ["-m", "mcp_servers.demo"]}, **SAMPLE["mcpServers"]}
    }
    output = run("import_mcp_servers", write(tmp_path, document), "--dry-run")
    assert "update    demo (stdio)" in output
    assert "command: " in output and "→ 'python3'" in output
    assert "create    remote-search (streamable_http)" in output
    assert "Dry run: 6 to create, 1 to update, 0 unchanged; nothing was changed." in output
    assert snapshot() == before


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "Not valid JSON"),
        ({"servers": {}}, 'Expected a JSON object with an "mcpServers" object in it.'),
        ({"mcpServers": {"x": {"url": "ftp://x.example/"}}}, "must be an http(s):// or ws(s):// URL"),
        ({"mcpServers": {"x": {"type": "sse", "url": "ws://x.example/"}}}, "WebSocket servers need a ws://"),
        ({"mcpServers": {"x": {"type": "carrier-pigeon", "url": "http://x.example/"}}}, 'Unknown "type"'),
        ({"mcpServers": {"x": {"command": "a", "args": "not-a-list"}}}, '"args" must be a list of strings.'),
        ({"mcpServers": {"x": {"command": "a", "env": {"K": {"nested": 1}}}}}, '"env" must be an object of string'),
        ({"mcpServers": {"x": {}}}, 'Give "command" (stdio) or "url".'),
        ({"mcpServers": {"A b": {"command": "a"}, "a-b": {"command": "b"}}}, "Same server name 'a-b'"),
    ],
)
def test_it_refuses_a_malformed_file_says_why_and_changes_nothing(tmp_path, demo_server, document, message):
    # A valid entry beside the bad one: nothing of it is saved either.
    if isinstance(document, dict) and "mcpServers" in document:
        document["mcpServers"]["good"] = {"command": "true"}
    before = snapshot()
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_mcp_servers", write(tmp_path, document), stdout=out)
    assert message in out.getvalue() + str(failure.value)
    assert "nothing was changed" in str(failure.value).lower()
    assert snapshot() == before


def test_it_refuses_a_file_over_the_size_limit(tmp_path):
    with pytest.raises(CommandError, match="the limit is 256 KiB"):
        run("import_mcp_servers", write(tmp_path, " " * (MAX_BYTES + 1)))


def test_it_exits_non_zero_on_an_error(tmp_path, capsys):
    bad = write(tmp_path, {"mcpServers": {"x": {}}})
    with pytest.raises(SystemExit) as exit_:
        # As manage.py runs it, minus django.setup(), which would point logging at this test's captured stderr.
        ImportCommand().run_from_argv(["manage.py", "import_mcp_servers", bad, "--dry-run"])
    assert exit_.value.code == 1
    assert 'Give "command" (stdio) or "url".' in capsys.readouterr().out


def test_it_exports_keys_but_not_secret_values_unless_asked(demo_server):
    demo_server.env = {"API_TOKEN": "env-secret-3"}
    demo_server.save()
    MCPServer.objects.create(
        name="remote", transport=T.SSE, url="https://x.example/sse", headers={"Authorization": "hdr-secret-4"}
    )
    document = json.loads(run("export_mcp_servers"))
    assert document["mcpServers"]["demo"]["env"] == {"API_TOKEN": ""}
    assert document["mcpServers"]["remote"] == {
        "type": "sse",
        "url": "https://x.example/sse",
        "headers": {"Authorization": ""},
    }
    with_secrets = json.loads(run("export_mcp_servers", "--include-secrets"))
    assert with_secrets["mcpServers"]["demo"]["env"] == {"API_TOKEN": "env-secret-3"}
    assert with_secrets["mcpServers"]["remote"]["headers"] == {"Authorization": "hdr-secret-4"}


def test_it_keeps_stored_secrets_when_an_export_without_them_is_imported_again(tmp_path, demo_server):
    demo_server.env = {"API_TOKEN": "env-secret-3"}
    demo_server.save()
    exported = run("export_mcp_servers")
    output = run("import_mcp_servers", write(tmp_path, exported))
    assert "unchanged demo (stdio)" in output
    demo_server.refresh_from_db()
    assert demo_server.env == {"API_TOKEN": "env-secret-3"}
