from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from assistants.models import Assistant, Provider
from core.ids import new_message_id, new_run_id, new_step_id, new_thread_id


class Conversation(models.Model):
    """A thread of messages between one user and one assistant."""

    id = models.CharField(primary_key=True, max_length=40, default=new_thread_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    assistant = models.ForeignKey(Assistant, null=True, on_delete=models.SET_NULL, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(
        max_length=200, blank=True, help_text="The model its assistant answers with here. Empty: the assistant's."
    )
    metadata = models.JSONField(default=dict, blank=True)
    tool_resources = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"file_search": {"vector_store_ids": […]}}: the vector stores its runs search, besides the '
        "assistant's.",
    )
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Archived conversations are hidden by default.")
    # Messages form a tree (an edited question or another answer starts a branch); the page shows one branch:
    # the way from the first message to this one, and on from it through the newest replies.
    current = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The message whose branch is shown, and answered next.",
    )
    share_token = models.CharField(
        max_length=64, null=True, blank=True, unique=True, help_text="Anyone with the link can read the conversation."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or self.id

    @property
    def model_name(self) -> str:
        """The model the next answer is asked of: this conversation's own, else its assistant's."""
        return self.model or (self.assistant.model_name if self.assistant else "")


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        IN_PROGRESS = "in_progress"
        REQUIRES_ACTION = "requires_action"
        CANCELLING = "cancelling"
        CANCELLED = "cancelled"
        FAILED = "failed"
        COMPLETED = "completed"
        INCOMPLETE = "incomplete"
        EXPIRED = "expired"

    ACTIVE = (Status.QUEUED, Status.IN_PROGRESS, Status.REQUIRES_ACTION, Status.CANCELLING)

    id = models.CharField(primary_key=True, max_length=40, default=new_run_id, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="runs")
    assistant = models.ForeignKey(Assistant, null=True, on_delete=models.SET_NULL, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True)
    functions = models.JSONField(
        null=True, blank=True, help_text="The run's own function tools, in place of its assistant's. Empty: those."
    )
    overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text="Settings of this run in place of its assistant's: temperature, top_p, tool_choice, "
        "parallel_tool_calls, response_format, max_completion_tokens.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)
    incomplete_reason = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0, help_text="At the provider's price.")
    paused_state = models.TextField(blank=True, help_text="The agent's serialized state while a tool waits.")
    reply_to = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="What it answers."
    )
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return self.id

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def pending_tool_call_ids(self) -> list[str]:
        """The tool calls this paused run waits on, in the order the model made them."""
        if self.status != self.Status.REQUIRES_ACTION:
            return []
        action = self.metadata.get("required_action") or {}
        calls = (action.get("submit_tool_outputs") or {}).get("tool_calls") or []
        return [call["id"] for call in calls]

    def is_function_call(self, tool_call_id: str) -> bool:
        """A call of one of the caller's function tools, whose output the caller submits."""
        return tool_call_id in (self.metadata.get("function_calls") or ())

    def approval_of(self, tool_call_id: str) -> str | None:
        """'pending', 'approved' or 'denied' for a call that needed approval; None otherwise."""
        decision = (self.metadata.get("approvals") or {}).get(tool_call_id)
        if decision is not None:
            return "approved" if decision["approve"] else "denied"
        if self.pending_elicitation is not None:
            return None  # the call is under way: its server asked the user something
        return "pending" if tool_call_id in self.pending_tool_call_ids else None

    @property
    def pending_elicitation(self) -> dict[str, Any] | None:
        """The question an MCP server asked the user during one of this run's calls, while it waits for the answer."""
        asked = self.metadata.get("elicitation")
        if self.status != self.Status.REQUIRES_ACTION or not asked or "answer" in asked:
            return None
        return asked


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        INCOMPLETE = "incomplete"

    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    assistant = models.ForeignKey(Assistant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETED)
    metadata = models.JSONField(default=dict, blank=True)
    # OpenAI's shapes: [{"file_id", "tools": [{"type": "file_search"}]}]; the image_file parts after the text
    # ([file_id, …]); the text's file_citation annotations ([{"type": "file_citation", …}]).
    attachments = models.JSONField(default=list, blank=True)
    image_file_ids = models.JSONField(default=list, blank=True)
    annotations = models.JSONField(default=list, blank=True)
    # Empty for the first message, and for messages stored before branches: those follow the message before them.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The message it follows."
    )
    edited_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The message it edits."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id


class RunStep(models.Model):
    class Type(models.TextChoices):
        MESSAGE_CREATION = "message_creation"
        TOOL_CALLS = "tool_calls"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        CANCELLED = "cancelled"
        FAILED = "failed"
        COMPLETED = "completed"
        EXPIRED = "expired"

    id = models.CharField(primary_key=True, max_length=40, default=new_step_id, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    type = models.CharField(max_length=20, choices=Type.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PROGRESS)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who took the step: the run's assistant, or a team member it handed off to or asked. Empty: the run's.
    assistant = models.ForeignKey(Assistant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The call that asked another assistant, for each step of that assistant's work.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    tool_call_id = models.CharField(max_length=100, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)
    server_name = models.CharField(max_length=100, blank=True)
    arguments = models.TextField(blank=True)
    output = models.TextField(blank=True)
    # What an MCP tool returned besides text (chat/tool_results.py); `output` holds its text rendering.
    content = models.JSONField(default=list, blank=True, help_text="The result's parts: images, audio, links, data.")
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id


class Usage(models.Model):
    """What one run used, kept for accounting after its conversation is deleted: one row per stretch of the run
    (a run paused for approval and resumed has two)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage")
    run_id = models.CharField(max_length=40, db_index=True)
    thread_id = models.CharField(max_length=40)
    assistant = models.ForeignKey(Assistant, null=True, on_delete=models.SET_NULL, related_name="+")
    assistant_name = models.CharField(max_length=256, blank=True)
    provider = models.ForeignKey(Provider, null=True, on_delete=models.SET_NULL, related_name="+")
    provider_name = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "usage"
        indexes = [models.Index(fields=["user", "created_at"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.total_tokens} tokens"


class Quota(models.Model):
    """Limits for one user, for a group's members, or (neither) for everyone: a monthly budget of tokens or cost,
    and the message rate and concurrent runs that the site's settings give otherwise.

    A user's own quota wins; else the most generous of their groups'; else the one for everyone. An empty budget
    is no budget; an empty rate or run limit is the site's setting.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    group = models.OneToOneField("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="quota")
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty: no token budget.")
    monthly_cost = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="Empty: no cost budget."
    )
    messages_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages and runs a minute. Empty: the site's setting; 0: no limit."
    )
    concurrent_runs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Answers in progress at once. Empty: the site's setting; 0: no limit."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=True) | Q(group__isnull=True), name="quota_one_holder")
        ]

    def __str__(self) -> str:
        holder = self.user or self.group
        return f"Quota of {holder}" if holder else "Quota for everyone"

    def clean(self) -> None:
        if self.user_id and self.group_id:
            raise ValidationError("A quota is for one user or one group, not both.")
        if not self.user_id and not self.group_id:
            others = Quota.objects.filter(user__isnull=True, group__isnull=True).exclude(pk=self.pk)
            if others.exists():
                raise ValidationError("There is a quota for everyone already: change that one.")
