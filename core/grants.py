"""Grants to groups: a provider, MCP server or shared assistant is for everyone, or for members of its groups."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, Q


def granted_to(model: type[Model], user: Any) -> Q:
    """Rows of `model` (with `everyone` and `groups`) granted to everyone or to one of the user's groups.

    A subquery, not a join on groups: a join would repeat a row granted to two of the user's groups.
    """
    field = model._meta.get_field("groups")
    through = field.remote_field.through
    own = f"{field.m2m_field_name()}_id"
    return Q(everyone=True) | Q(pk__in=through.objects.filter(group__user=user).values(own))
