"""A conversation's read-only link: making and revoking it, and the page it opens for anyone."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from chat import sharing, timeline
from chat.views.conversations import conversation_get_or_404
from core.errors import ServiceError


@login_required
@require_http_methods(["GET", "POST"])
def conversation_share(request: HttpRequest, thread_id: str) -> HttpResponse:
    """Make or revoke the conversation's read-only link."""
    conversation = conversation_get_or_404(request, thread_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "revoke":
                sharing.share_revoke(user=request.user, conversation_id=conversation.pk)
                messages.success(request, "The link is revoked: it opens nothing now.")
            else:
                sharing.share_create(user=request.user, conversation_id=conversation.pk)
                messages.success(request, "Anyone with the link can read this conversation now.")
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("chat:conversation_share", thread_id=conversation.pk)
    link = (
        request.build_absolute_uri(reverse("chat:shared_conversation", args=[conversation.share_token]))
        if conversation.share_token
        else ""
    )
    return render(
        request,
        "chat/conversation_share.html",
        {"conversation": conversation, "link": link, "sharing_enabled": sharing.sharing_enabled()},
    )


@require_GET
def shared_conversation(request: HttpRequest, token: str) -> HttpResponse:
    """A conversation as its link shows it, to anyone: the branch its owner shows, without controls."""
    try:
        conversation = sharing.shared_conversation_get(token=token)
    except ServiceError:
        raise Http404("This link is not shared, or no longer.") from None
    response = render(
        request,
        "chat/shared_conversation.html",
        {"conversation": conversation, "entries": timeline.shared_entries(conversation=conversation)},
    )
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response
