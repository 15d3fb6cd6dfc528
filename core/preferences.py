"""Per-user preferences (the theme, the assistant "New chat" starts with) and the site's defaults for them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models


class Theme(models.TextChoices):
    SYSTEM = "system", "System"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


def _assistant_field(help_text: str, **options: Any) -> models.ForeignKey:
    """An optional assistant, forgotten (not deleted with) when the assistant is deleted."""
    return models.ForeignKey(
        "assistants.Assistant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=help_text,
        **options,
    )


class Preference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)
    default_assistant = _assistant_field("The assistant a new chat starts with.")
    # Drawn by the server, so the chat page never shows the list for a moment before folding it away.
    sidebar_collapsed = models.BooleanField(default=False, help_text="The chat page's conversation list is folded.")

    class Meta:
        app_label = "core"

    def __str__(self) -> str:
        return f"{self.user}'s preferences"


class SiteDefault(models.Model):
    """The one row of site-wide defaults an admin sets: the assistant for users who chose none, and whether
    conversations may be shared by link."""

    default_assistant = _assistant_field(
        "A new chat starts with this shared assistant unless the user picked their own default.",
        limit_choices_to={"owner__isnull": True},
    )
    sharing_enabled = models.BooleanField(
        default=False,
        help_text="Owners may share a conversation read-only with anyone who has its link (no login needed).",
    )

    class Meta:
        app_label = "core"
        verbose_name = "site default"

    def __str__(self) -> str:
        return "Site defaults"


def preference_get(*, user: AbstractBaseUser) -> Preference:
    """The user's preferences; an unsaved default row for someone who never changed them.

    Read once per user object, so once a request however many parts of a page ask (theme, list, New chat)."""
    cached = getattr(user, "_switchboard_preference", None)
    if cached is None:
        cached = Preference.objects.filter(user=user).first() or Preference(user=user)
        user._switchboard_preference = cached
    return cached


def preference_update(*, user: AbstractBaseUser, **changes: Any) -> Preference:
    """Save the named preferences (`theme`, `default_assistant`, `sidebar_collapsed`); the others stay."""
    preference, _ = Preference.objects.update_or_create(user=user, defaults=changes)
    user._switchboard_preference = preference
    return preference


def site_default_get() -> SiteDefault:
    return SiteDefault.objects.select_related("default_assistant").first() or SiteDefault()


def default_assistant_for(*, user: AbstractBaseUser, usable: models.QuerySet) -> Any:
    """The assistant a new chat of this user starts with, among `usable`: their own pick, else the site's,
    else the first by name; None when they may use none."""
    for choice in (preference_get(user=user).default_assistant_id, site_default_get().default_assistant_id):
        if choice is not None:
            found = usable.filter(pk=choice).first()
            if found is not None:
                return found
    return usable.order_by("name", "pk").first()
