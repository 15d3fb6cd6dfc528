from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class SwitchboardAdminConfig(AdminConfig):
    """The admin app with Switchboard's site: its login takes a two-factor code (core.twofactor)."""

    default_site = "core.twofactor.SwitchboardAdminSite"
