"""Print a new personal API token for a user, and nothing else, so scripts can capture it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.tokens import token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (it is shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="What the token is for.")
        parser.add_argument("--expires-in-days", type=int, default=None, help="Default: never expires.")

    def handle(self, *args: Any, username: str, name: str, expires_in_days: int | None, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"No user named '{username}'.") from None
        if not user.is_active:
            raise CommandError(f"The user '{username}' is inactive; a token for them would not work.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        _, raw = token_create(user=user, name=name, expires_in_days=expires_in_days)
        self.stdout.write(raw)
