"""`python manage.py import_mcp_servers FILE [--dry-run]`: create or update MCP servers by name."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mcp_servers.config_io import MAX_BYTES, ConfigError, Plan, config_apply, config_plan


def plan_describe(plan: Plan) -> list[str]:
    lines = []
    for entry in plan.entries:
        label = entry.name or entry.key
        if entry.errors:
            lines.extend(f"error     {label}: {error}" for error in entry.errors)
            continue
        lines.append(f"{entry.action:<10}{label} ({entry.transport})")
        lines.extend(f"            {change}" for change in entry.changes)
        lines.extend(f"  note      {warning}" for warning in entry.warnings)
    return lines


class Command(BaseCommand):
    help = "Import MCP servers from an mcpServers JSON file (Claude Desktop's format); `-` reads standard input."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the JSON file, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; change nothing.")

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        try:
            if file == "-":
                data = sys.stdin.buffer.read(MAX_BYTES + 1)
            else:
                with Path(file).open("rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            plan = config_plan(data)
        except ConfigError as exc:
            raise CommandError(f"{exc} Nothing was changed.") from None
        for line in plan_describe(plan):
            self.stdout.write(line)
        if not plan.ok:
            raise CommandError(f"{len(plan.errors)} error(s); nothing was changed.")
        if dry_run:
            self.stdout.write(f"Dry run: {plan.summary}; nothing was changed.")
            return
        created, updated = config_apply(plan)
        self.stdout.write(self.style.SUCCESS(f"Created {created}, updated {updated} MCP server(s)."))
