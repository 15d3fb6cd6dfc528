"""Read-only links to a conversation: off unless an admin allows them for the site, made and revoked by the
conversation's owner, opened by anyone who has one (no login)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.models import Conversation
from chat.services.common import conversation_locked
from core.errors import ServiceError
from core.preferences import site_default_get

# 32 random bytes: as hard to guess as a session key.
TOKEN_BYTES = 32


def sharing_enabled() -> bool:
    return site_default_get().sharing_enabled


def share_create(*, user: AbstractBaseUser, conversation_id: Any) -> Conversation:
    """Give the user's conversation a link (the one it has, if it has one)."""
    if not sharing_enabled():
        raise ServiceError("sharing_disabled", "Sharing conversations by link is turned off on this site.")
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        if not conversation.share_token:
            conversation.share_token = secrets.token_urlsafe(TOKEN_BYTES)
            # update(), not save(): sharing is not activity and must not move the conversation up the list.
            Conversation.objects.filter(pk=conversation.pk).update(share_token=conversation.share_token)
    return conversation


def share_revoke(*, user: AbstractBaseUser, conversation_id: Any) -> Conversation:
    """End the conversation's link: it is not found from now on (a new link is a new token)."""
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        conversation.share_token = None
        Conversation.objects.filter(pk=conversation.pk).update(share_token=None)
    return conversation


def shared_conversation_get(*, token: Any) -> Conversation:
    """The conversation a link opens; not found once revoked, or while the site does not allow sharing."""
    if not isinstance(token, str) or not token or not sharing_enabled():
        raise ServiceError.not_found("shared conversation", "")
    conversation = Conversation.objects.select_related("assistant").filter(share_token=token).first()
    if conversation is None:
        raise ServiceError.not_found("shared conversation", "")
    return conversation
