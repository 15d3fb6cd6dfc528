from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models

from core.crypto import EncryptedJSONField, EncryptedTextField
from core.network import url_refusal


class MCPServer(models.Model):
    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio"
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        SSE = "sse", "SSE"
        WEBSOCKET = "websocket", "WebSocket"

    class Approval(models.TextChoices):
        NEVER = "never", "Never"
        ALWAYS = "always", "Always"
        LISTED = "listed", "Listed tools"

    class Scope(models.TextChoices):
        SHARED = "shared", "One shared connection"
        PER_USER = "per_user", "One connection per user"

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"
        CLOSED = "closed", "Closed"

    name = models.SlugField(max_length=64, unique=True, help_text="Also the prefix of colliding tool names.")
    description = models.CharField(max_length=500, blank=True)
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STDIO)
    command = models.CharField(max_length=500, blank=True, help_text="stdio: the program to run.")
    args = models.JSONField(default=list, blank=True, help_text="stdio: a JSON list of arguments.")
    cwd = models.CharField(max_length=500, blank=True, help_text="stdio: working directory.")
    # Not a URLField: its validator and form field refuse ws:// and wss://.
    url = models.CharField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https", "ws", "wss"])],
        help_text="HTTP, SSE and WebSocket transports (http://, https://, ws://, wss://).",
    )
    env = EncryptedJSONField(default=dict, blank=True, help_text="Encrypted at rest; write-only.")
    network = models.BooleanField(
        "may use the network",
        default=False,
        help_text="stdio: the sandboxed server may open network connections (it needs to, to download packages).",
    )
    read_paths = models.JSONField(
        default=list,
        blank=True,
        help_text="stdio: more paths the sandboxed server may read, as a JSON list (its own program is readable).",
    )
    headers = EncryptedJSONField(default=dict, blank=True, help_text="Encrypted at rest; write-only.")
    connect_timeout = models.FloatField(default=15.0, validators=[MinValueValidator(0.1)])
    call_timeout = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])
    enabled = models.BooleanField(default=True)
    allowed_tools = models.JSONField(default=list, blank=True, help_text="Only these tools (empty: all).")
    denied_tools = models.JSONField(default=list, blank=True, help_text="Never these tools.")
    approval = models.CharField(max_length=10, choices=Approval.choices, default=Approval.NEVER)
    approval_tools = models.JSONField(default=list, blank=True, help_text="Tools that need approval.")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.SHARED)
    # Who may attach it to their own assistants. Off by default: a server reaches what it was given (a command on
    # the host, an internal URL), so it is offered only on purpose: to everyone, to groups, or by putting it on a
    # shared assistant they may use.
    everyone = models.BooleanField(
        "available to everyone",
        default=False,
        help_text="Every user may attach it to their own assistants.",
    )
    groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="mcp_servers",
        help_text="Members of these groups may attach it to their own assistants.",
    )
    # A user's own remote server, for their own assistants only (an admin lets a group add them).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="own_mcp_servers",
        help_text="Added by this user for their own assistants. Empty: configured by an administrator.",
    )
    last_status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_tools = models.JSONField(
        default=list, blank=True, help_text="Tools the last check listed: name, description, input schema."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"
        permissions = [("add_own_mcpserver", "Can add remote MCP servers for their own assistants")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.transport == self.Transport.STDIO:
            if not self.command:
                errors["command"] = "A stdio server needs a command to run."
        elif not self.url:
            errors["url"] = f"A {self.get_transport_display()} server needs a URL."
        elif (self.transport == self.Transport.WEBSOCKET) != self.url.lower().startswith(("ws://", "wss://")):
            errors["url"] = "WebSocket servers need a ws:// or wss:// URL, and only they may have one."
        elif refusal := url_refusal(self.url):
            errors["url"] = refusal
        if not isinstance(self.read_paths, list) or not all(
            isinstance(p, str) and p.startswith("/") for p in self.read_paths
        ):
            errors["read_paths"] = "Enter a JSON list of absolute paths."
        if errors:
            raise ValidationError(errors)

    def launch_params(self, *, user_id: int | None = None, username: str = "") -> dict[str, Any]:
        """Return what a transport needs to connect, with per-user placeholders filled in."""

        def fill(value: str) -> str:
            if self.scope != self.Scope.PER_USER:
                return value
            return value.replace("{user_id}", str(user_id or "")).replace("{username}", username)

        return {
            "transport": self.transport,
            "command": fill(self.command),
            "args": [fill(str(a)) for a in self.args or []],
            "cwd": fill(self.cwd) or None,
            "url": fill(self.url),
            "env": {k: fill(str(v)) for k, v in (self.env or {}).items()},
            "headers": {k: fill(str(v)) for k, v in (self.headers or {}).items()},
            "connect_timeout": self.connect_timeout,
            "call_timeout": self.call_timeout,
            "sandbox": self.sandbox_params(user_id=user_id) if self.transport == self.Transport.STDIO else None,
        }

    def sandbox_params(self, *, user_id: int | None) -> dict[str, Any] | None:
        """How a stdio server is sandboxed (None: MCP_SANDBOX is off); per-user servers get a directory each."""
        if not settings.SWITCHBOARD["MCP_SANDBOX"]:
            return None
        per_user = self.scope == self.Scope.PER_USER
        return {
            "name": self.name,
            "server_id": self.pk,
            "user_id": user_id if per_user else None,
            "network": self.network,
            "read_paths": [str(p) for p in self.read_paths or []],
        }

    def needs_approval(self, tool_name: str) -> bool:
        if self.approval == self.Approval.ALWAYS:
            return True
        return self.approval == self.Approval.LISTED and tool_name in (self.approval_tools or [])

    def allows_tool(self, tool_name: str) -> bool:
        if tool_name in (self.denied_tools or []):
            return False
        return not self.allowed_tools or tool_name in self.allowed_tools


class OAuthClient(models.Model):
    """Switchboard as an OAuth client of a server that wants each user to sign in: what discovery found (the
    server's protected resource metadata, its authorization server's metadata) and the client credentials, from
    dynamic registration or entered by an administrator."""

    server = models.OneToOneField(MCPServer, on_delete=models.CASCADE, related_name="oauth")
    resource = models.CharField(max_length=500, blank=True, help_text="The resource the tokens are for (RFC 8707).")
    resource_metadata = models.JSONField(default=dict, blank=True)
    issuer = models.CharField(max_length=500, blank=True)
    server_metadata = models.JSONField(default=dict, blank=True)
    scope = models.CharField(max_length=500, blank=True)
    client_id = models.CharField(max_length=500, blank=True)
    client_secret = EncryptedTextField(blank=True, help_text="Encrypted at rest; write-only.")
    # True: the client was registered dynamically (RFC 7591) for `redirect_uri`; False: entered by an administrator.
    registered = models.BooleanField(default=False)
    redirect_uri = models.CharField(max_length=500, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return f"OAuth client of {self.server}"

    @property
    def protected(self) -> bool:
        """Whether the server was found to want each user to sign in."""
        return self.discovered_at is not None


class OAuthAccount(models.Model):
    """One user's tokens for one OAuth-protected server; only that user's connections use them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mcp_oauth_accounts")
    server = models.ForeignKey(MCPServer, on_delete=models.CASCADE, related_name="oauth_accounts")
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(blank=True)
    scope = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OAuth account"
        constraints = [models.UniqueConstraint(fields=["user", "server"], name="mcp_oauth_account_once")]

    def __str__(self) -> str:
        return f"{self.user} on {self.server}"
