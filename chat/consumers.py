"""The chat WebSocket: `/ws/conversations/<thread_id>/`."""

from __future__ import annotations

import json
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from chat import markdown, selectors, services, timeline
from chat.events import conversation_group, events_of
from core.errors import ServiceError
from core.metrics import error_record, websocket_connect_record, websocket_disconnect_record
from core.sockets import socket_close, socket_open

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
SOCKET_KIND = "chat"


def _still_signed_in(session_key: str | None, user_id: int, user: AbstractBaseUser | None = None) -> bool:
    """Whether the socket's login still holds: the session exists, is this user's, the user is active, and
    their password has not changed since (Django's session auth hash). `user` is the user as just read, if the
    caller has read it."""
    if not session_key:
        return False
    data = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key=session_key).load()
    if data.get(SESSION_KEY) != str(user_id):
        return False
    if user is None or user.pk != user_id:
        user = get_user_model().objects.filter(pk=user_id).first()
    return (
        user is not None
        and user.is_active
        and constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())
    )


class SignedOut(Exception):
    """The socket's login ended (logout, deactivation, a new password): the socket closes."""


class ConversationConsumer(AsyncWebsocketConsumer):
    thread_id: str = ""
    group: str = ""
    counted = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not socket_open(kind=SOCKET_KIND, user_id=user.pk, limit=settings.SWITCHBOARD["WS_SOCKETS_PER_USER"]):
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.counted = True
        thread_id = self.scope["url_route"]["kwargs"]["thread_id"]
        try:
            await database_sync_to_async(selectors.conversation_get_for_user)(user=user, conversation_id=thread_id)
        except ServiceError:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.thread_id = thread_id
        self.group = conversation_group(thread_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        websocket_connect_record()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels recycles the database connection before every handler: a trip to the database thread that
        # closes the connection the run executor shares (with CONN_MAX_AGE=0), for every frame and every
        # broadcast event. The executor's heartbeat drops stale connections every few seconds instead.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        if self.counted:
            self.counted = False
            socket_close(kind=SOCKET_KIND, user_id=self.user.pk)
        if self.group:
            websocket_disconnect_record()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def send_event(self, event: str, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"event": event, "data": data}))

    async def send_error(self, code: str, message: str) -> None:
        error_record(code=code)
        await self.send_event("error", {"code": code, "message": message})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.group:
            return
        if text_data is None:
            await self.send_error("invalid_frame", "Frames must be JSON text, not binary.")
            return
        limit = settings.SWITCHBOARD["WS_FRAME_MAX_BYTES"]
        if len(text_data.encode("utf-8", "surrogatepass")) > limit:
            await self.send_error("frame_too_large", f"Frames must be at most {limit // 1024} KiB.")
            return
        try:
            frame = json.loads(text_data)
            json.dumps(frame, ensure_ascii=False).encode("utf-8")  # a lone surrogate ("\\ud800") is no character
        except UnicodeEncodeError:
            await self.send_error("invalid_text", "The frame holds an invalid character (a lone surrogate).")
            return
        except (ValueError, RecursionError):
            await self.send_error("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.send_error("invalid_frame", "The frame must be a JSON object with a 'type'.")
            return
        handler = self.handlers.get(frame.get("type")) if isinstance(frame.get("type"), str) else None
        if handler is None:
            await self.send_error("unknown_type", f"Unknown frame type: {str(frame.get('type'))[:64]!r}.")
            return
        # Every frame re-checks the login (two small reads): a logout, a deactivation or a new password
        # elsewhere ends this socket too. A message re-checks it in the same trip that stores it.
        try:
            if handler is not ConversationConsumer.on_message_create:
                await database_sync_to_async(self.login_check)()
            await handler(self, frame)
        except SignedOut:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        except ServiceError as exc:
            await self.send_error(exc.code, exc.message)

    def login_check(self, user: AbstractBaseUser | None = None) -> None:
        """Refuse (SignedOut) once the socket's login no longer holds; `user` is the user as just read, if the
        caller has read it."""
        session = self.scope.get("session")
        if not _still_signed_in(getattr(session, "session_key", None), self.user.pk, user):
            raise SignedOut

    async def on_message_create(self, frame: dict[str, Any]) -> None:
        if "content" not in frame:
            raise ServiceError("invalid_content", "message.create needs 'content'.")
        # `/<server>:<prompt> arg=value`: the prompt's messages, in place of the message typed.
        prompted = await services.message_prompt_create(
            user=self.user, conversation_id=self.thread_id, content=frame["content"], check=self.login_check
        )
        if prompted is not None:
            return
        await services.message_create(
            user=self.user,
            conversation_id=self.thread_id,
            content=frame["content"],
            answer=True,
            file_ids=frame.get("file_ids"),
            resources=frame.get("resources"),
            check=self.login_check,
        )

    async def on_run_cancel(self, frame: dict[str, Any]) -> None:
        await services.run_cancel(user=self.user, run_id=frame.get("run_id"), conversation_id=self.thread_id)

    async def on_run_approve(self, frame: dict[str, Any]) -> None:
        await services.run_approve(user=self.user, run_id=frame.get("run_id"), tool_call_id=frame.get("tool_call_id"))

    async def on_run_deny(self, frame: dict[str, Any]) -> None:
        reason = frame.get("reason") if isinstance(frame.get("reason"), str) else ""
        await services.run_deny(
            user=self.user, run_id=frame.get("run_id"), tool_call_id=frame.get("tool_call_id"), reason=reason
        )

    async def on_run_tool_output(self, frame: dict[str, Any]) -> None:
        """The owner answers a function call by hand, as the API's caller would with submit_tool_outputs."""
        await services.run_decisions_submit(
            user=self.user,
            run_id=frame.get("run_id"),
            conversation_id=self.thread_id,
            outputs=[(frame.get("tool_call_id"), frame.get("output"))],
            param="tool_call_id",
        )

    async def on_elicitation_respond(self, frame: dict[str, Any]) -> None:
        """The owner answers a question an MCP server asks during a tool call: accept (with `content`), decline or
        cancel."""
        await services.elicitation_respond(
            user=self.user,
            run_id=frame.get("run_id"),
            elicitation_id=frame.get("elicitation_id"),
            action=frame.get("action"),
            content=frame.get("content"),
            conversation_id=self.thread_id,
        )

    async def on_thread_resync(self, frame: dict[str, Any]) -> None:
        # The page asks on every (re)connect and when a run ends. The socket joined the group before this read,
        # so nothing falls between the answer and the live events; an overlap is harmless: the page replaces
        # entries by key, and a final entry carries its whole text.
        snapshot = frame["type"] == "thread.snapshot"
        after = frame.get("after") if isinstance(frame.get("after"), str) and not snapshot else None
        answer = await database_sync_to_async(timeline.resync_answer)(
            conversation_id=self.thread_id, after=after or None, objects=snapshot
        )
        await self.send_event(frame["type"], answer)

    async def on_thread_older(self, frame: dict[str, Any]) -> None:
        """The page scrolled back to its first entry: the page of entries before it."""
        before = frame.get("before")
        if not isinstance(before, str) or len(before) > 100:
            raise ServiceError("invalid_value", "'before' must be the key of an entry on the page.", param="before")
        answer = await database_sync_to_async(timeline.older_answer)(conversation_id=self.thread_id, before=before)
        await self.send_event("thread.older", answer)

    async def on_message_edit(self, frame: dict[str, Any]) -> None:
        """Send an edited copy of one of the user's messages; the original stays as another branch."""
        if "content" not in frame:
            raise ServiceError("invalid_content", "message.edit needs 'content'.")
        await services.message_edit(
            user=self.user, conversation_id=self.thread_id, message_id=frame.get("message_id"), content=frame["content"]
        )

    async def on_branch_select(self, frame: dict[str, Any]) -> None:
        """Show another version of a message (the arrows on it), and what followed that version."""
        await services.branch_select(user=self.user, conversation_id=self.thread_id, message_id=frame.get("message_id"))

    async def on_message_regenerate(self, frame: dict[str, Any]) -> None:
        await services.run_regenerate(user=self.user, conversation_id=self.thread_id)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_event("pong", {})

    @property
    def user(self) -> Any:
        return self.scope["user"]

    handlers = {
        "message.create": on_message_create,
        "run.cancel": on_run_cancel,
        "run.approve": on_run_approve,
        "run.deny": on_run_deny,
        "run.tool_output": on_run_tool_output,
        "elicitation.respond": on_elicitation_respond,
        "thread.resync": on_thread_resync,
        "thread.snapshot": on_thread_resync,  # the whole timeline: a resync without a cursor
        "thread.older": on_thread_older,
        "message.regenerate": on_message_regenerate,
        "message.edit": on_message_edit,
        "branch.select": on_branch_select,
        # Retry after a failed, stopped or expired run is the same workflow: answer the last message again.
        "run.retry": on_message_regenerate,
        "ping": on_ping,
    }

    async def author_of(self, data: dict[str, Any]) -> str:
        """The name of the assistant who wrote a message or took a step (read once a socket)."""
        assistant_id = data.get("assistant_id") if data.get("object") in ("thread.message", "thread.run.step") else None
        if not assistant_id:
            return ""
        known = self.__dict__.setdefault("authors", {})
        if assistant_id not in known and (seen := timeline.author_seen(assistant_id)) is not None:
            known[assistant_id] = seen  # a run of this process answers as it: no trip to the database
        if assistant_id not in known:
            known |= await database_sync_to_async(timeline.authors)({assistant_id})
            known.setdefault(assistant_id, "")
        return known[assistant_id]

    async def run_event(self, message: dict[str, Any]) -> None:
        for event, data in events_of(message):
            if event in ("thread.message.completed", "thread.message.incomplete"):
                # The page swaps its live plain text for the server's sanitized Markdown.
                data = markdown.message_html_add(data)
            entry = timeline.event_entry(event, data, author=await self.author_of(data))
            frame = {"event": event, "data": data}
            if entry is not None:
                frame["entry"] = entry  # the page inserts the server's fragment: one source of the markup
            await self.send(text_data=json.dumps(frame))
