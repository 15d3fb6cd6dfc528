"""A stdio MCP server built on the `mcp` SDK whose tool asks the user a question before it answers:
`python tests/fakes/asking_mcp_server.py`.

The SDK's server speaks the protocol version the client negotiates, so its question comes as the era has it: an
`input_required` result that the client answers by calling again (2026-07-28), or an `elicitation/create`
request in the middle of the call (2025-11-25).
"""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, Field

server = MCPServer("asking", log_level="WARNING")


class Booking(BaseModel):
    guests: int = Field(ge=1, le=8, description="How many people")
    email: str = Field(description="Where to send the confirmation")


def booking_asked(restaurant: str) -> Elicit[Booking]:
    return Elicit(f"Booking a table at {restaurant}: for how many, and where to confirm?", Booking)


@server.tool()
def book_table(restaurant: str, booking: Annotated[ElicitationResult[Booking], Resolve(booking_asked)]) -> str:
    """Book a table at a restaurant, asking the user the details."""
    if booking.action != "accept":
        return f"No table booked: the user chose {booking.action}."
    return f"Booked {restaurant} for {booking.data.guests}; confirmation to {booking.data.email}."


if __name__ == "__main__":
    server.run("stdio")
