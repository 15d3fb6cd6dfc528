"""A stdio MCP server whose one resource changes: `python tests/fakes/notes_mcp_server.py <file>` serves
`notes://today` with the file's text as it is at each read, and a prompt `interview` (topic) whose messages are
the user's, the assistant's and the user's again."""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver.prompts.base import AssistantMessage, Message, UserMessage

NOTES = Path(sys.argv[1])
server = MCPServer("notes")


@server.resource("notes://today", name="today", title="Today's notes", mime_type="text/plain")
def today() -> str:
    return NOTES.read_text(encoding="utf-8")


@server.prompt(title="Interview")
def interview(topic: str) -> list[Message]:
    return [
        UserMessage(f"Interview me about {topic}."),
        AssistantMessage(f"Gladly. What do you already know about {topic}?"),
        UserMessage("Very little: start from the beginning."),
    ]


if __name__ == "__main__":
    server.run("stdio")
