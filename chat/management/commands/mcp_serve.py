"""Serve Switchboard's MCP server over stdio, acting as one user: for desktop MCP clients."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.executor import get_executor
from chat.mcp_server import acting_user, server
from mcp_servers.pool import get_pool

logger = logging.getLogger(__name__)

# Runs started with wait=false may still be going when the client hangs up; let them finish this long.
RUNS_FINISH_SECONDS = 60.0


class Command(BaseCommand):
    help = "Serve Switchboard's MCP server on stdin/stdout, acting as the given user."
    # stdout carries the protocol: nothing else may be written there.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="The username every tool call acts as.")

    def handle(self, *args: Any, user: str, **options: Any) -> None:
        user_model = get_user_model()
        try:
            account = user_model.objects.get(**{user_model.USERNAME_FIELD: user})
        except user_model.DoesNotExist:
            raise CommandError(f"No user named '{user}'.") from None
        if not account.is_active:
            raise CommandError(f"The user '{user}' is inactive.")
        asyncio.run(self.serve(account))

    async def serve(self, account: Any) -> None:
        acting_user.set(account)
        try:
            await server.run_stdio_async()
        finally:
            # Runs execute on this loop: finish them (and close their MCP connections) before it ends.
            tasks = list(get_executor().tasks.values())
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=RUNS_FINISH_SECONDS)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=10)
            await get_pool().close_all()
