"""Traces of runs, stored locally: one Trace per run (or per traced piece of work), its spans beneath it.

Spans keep what is worth filtering on in their own columns and the rest in a small `data` object. They
never hold prompts, answers, tool arguments or tool results, only their sizes.
"""

from __future__ import annotations

from django.db import models

from chat.models import Run


class Trace(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        REQUIRES_ACTION = "requires_action"
        CANCELLED = "cancelled"
        FAILED = "failed"
        INCOMPLETE = "incomplete"
        EXPIRED = "expired"
        ENDED = "ended"  # a trace that is not a run, or whose run did not say how it ended

    trace_id = models.CharField(primary_key=True, max_length=64)
    # Kept when its run goes with its conversation (TRACE_RETENTION_DAYS deletes it): a trace holds no content,
    # and its spans may still be on their way to the database while the conversation is deleted.
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="traces")
    workflow = models.CharField(max_length=200, blank=True)
    thread_id = models.CharField(max_length=64, blank=True, db_index=True)
    user_id = models.CharField(max_length=64, blank=True, db_index=True)
    assistant_id = models.CharField(max_length=64, blank=True, db_index=True)
    provider = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PROGRESS, db_index=True)
    error_code = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    model_calls = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    tool_failures = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.trace_id

    @property
    def run_id_text(self) -> str:
        """The run this trace says it belongs to, even when that run is gone."""
        return self.run_id or str(self.metadata.get("run_id", ""))


class Span(models.Model):
    class Kind(models.TextChoices):
        AGENT = "agent"
        MODEL = "model"  # a model call: the SDK's response and generation spans
        TOOL = "tool"  # a function or MCP tool call
        MCP_TOOLS = "mcp_tools"  # listing an MCP server's tools
        HANDOFF = "handoff"
        GUARDRAIL = "guardrail"
        CUSTOM = "custom"  # Switchboard's own steps, the SDK's task and turn spans, and anything unknown

    class Outcome(models.TextChoices):
        OK = "ok"
        ERROR = "error"
        DENIED = "denied"  # the user refused the tool call
        PENDING = "pending"  # the tool call stopped to wait for the user's approval; it runs on resume

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="spans")
    span_id = models.CharField(max_length=64)
    parent_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    sdk_type = models.CharField(max_length=40, blank=True, help_text="The span type as the Agents SDK names it.")
    name = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=200, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    server = models.CharField(max_length=200, blank=True, db_index=True)
    tool = models.CharField(max_length=200, blank=True)
    transport = models.CharField(max_length=40, blank=True)
    argument_bytes = models.PositiveIntegerField(null=True, blank=True)
    result_bytes = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [models.UniqueConstraint(fields=["trace", "span_id"], name="observability_span_unique")]

    def __str__(self) -> str:
        return self.name or self.span_id

    @property
    def failed(self) -> bool:
        """Whether the span went wrong; a tool call the user denied did not."""
        if self.outcome in (self.Outcome.DENIED, self.Outcome.PENDING):
            return False
        return self.error is not None or self.outcome == self.Outcome.ERROR
