"""Import and export of the `mcpServers` JSON format that Claude Desktop and other MCP clients use.

    {"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/data"],
                  "env": {"TOKEN": "…"}},
        "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer …"}},
        "legacy": {"type": "sse", "url": "https://example.com/sse"},
        "live": {"url": "wss://example.com/mcp"}
    }}

An entry with `command` is a stdio server; one with `url` is Streamable HTTP unless its `type`
says `sse` or `websocket` (`ws`), or its URL starts with ws:// or wss://. Entries create or update
the server of the same (slugified) name; settings the format cannot express (timeouts, scope,
tool lists, approval) keep their stored values, or the defaults for a new server.

Secrets: an export leaves env and header values empty unless asked to include them, and on import
an empty value for a key the stored server already has keeps the stored value, so exporting and
importing again never wipes a secret. Unless the file points the server at another URL, command or
arguments: then a secret the file does not restate is dropped (the preview says so), so it never
reaches a host or program it was not given to.

The admin's import page and both management commands use this one module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.text import slugify

from core.audit import audit_record
from core.models import AuditEntry
from mcp_servers.models import MCPServer

MAX_BYTES = 256 * 1024
NAME_MAX = 64

T = MCPServer.Transport
URL_TYPES = {
    "http": T.STREAMABLE_HTTP,
    "streamable-http": T.STREAMABLE_HTTP,
    "streamable_http": T.STREAMABLE_HTTP,
    "streamablehttp": T.STREAMABLE_HTTP,
    "sse": T.SSE,
    "websocket": T.WEBSOCKET,
    "ws": T.WEBSOCKET,
}
EXPORT_TYPES = {T.STREAMABLE_HTTP: "http", T.SSE: "sse", T.WEBSOCKET: "websocket"}
KNOWN_KEYS = {"command", "args", "env", "cwd", "url", "headers", "type", "transport", "disabled", "description"}
# Keys other clients write that have no meaning here; ignored without a warning.
FOREIGN_KEYS = {"autoApprove", "alwaysAllow", "timeout", "enabled", "name"}
SECRET_FIELDS = ("env", "headers")


class ConfigError(Exception):
    """The file as a whole cannot be read; nothing is changed."""


@dataclass
class Entry:
    """One server of the file: the fields it sets, what that would change, and what is wrong with it."""

    key: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    action: str = "create"  # create, update or unchanged
    changes: list[str] = field(default_factory=list)
    transport: str = ""

    @property
    def transport_label(self) -> str:
        return MCPServer.Transport(self.transport).label if self.transport else ""


@dataclass
class Plan:
    entries: list[Entry]

    @property
    def ok(self) -> bool:
        return bool(self.entries) and not any(entry.errors for entry in self.entries)

    @property
    def errors(self) -> list[str]:
        return [f"{entry.key}: {error}" for entry in self.entries for error in entry.errors]

    def count(self, action: str) -> int:
        return sum(entry.action == action for entry in self.entries)

    @property
    def summary(self) -> str:
        creates, updates, unchanged = self.count("create"), self.count("update"), self.count("unchanged")
        return f"{creates} to create, {updates} to update, {unchanged} unchanged"


def config_load(data: str | bytes) -> dict[str, Any]:
    """Parse the JSON text of an `mcpServers` file, refusing what is too big or not that shape."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_BYTES:
        raise ConfigError(f"The file is {size // 1024} KiB; the limit is {MAX_BYTES // 1024} KiB.")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError("The file is not UTF-8 text.") from None
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"Not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("mcpServers"), dict):
        raise ConfigError('Expected a JSON object with an "mcpServers" object in it.')
    if not parsed["mcpServers"]:
        raise ConfigError('"mcpServers" is empty.')
    return parsed["mcpServers"]


def _strings(value: Any, what: str, errors: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        errors.append(f"{what} must be a list of strings.")
        return []
    return [str(v) for v in value]


def _mapping(value: Any, what: str, errors: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) and not isinstance(v, dict) for v in value.values()
    ):
        errors.append(f"{what} must be an object of string values.")
        return {}
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def _entry_parse(key: str, raw: Any) -> Entry:
    name = slugify(key)[:NAME_MAX]
    entry = Entry(key=key, name=name)
    errors, fields = entry.errors, entry.fields
    if not name:
        errors.append("The name has no letters or digits to make a server name from.")
    elif name != key:
        entry.warnings.append(f"Saved as '{name}' (server names are slugs).")
    if not isinstance(raw, dict):
        errors.append("Each server must be a JSON object.")
        return entry
    unknown = sorted(set(raw) - KNOWN_KEYS - FOREIGN_KEYS)
    if unknown:
        entry.warnings.append(f"Ignored: {', '.join(unknown)}.")
    command, url = raw.get("command"), raw.get("url")
    if command and url:
        errors.append('Give either "command" (stdio) or "url", not both.')
        return entry
    if not command and not url:
        errors.append('Give "command" (stdio) or "url".')
        return entry
    if "disabled" in raw:
        if not isinstance(raw["disabled"], bool):
            errors.append('"disabled" must be true or false.')
        fields["enabled"] = not raw["disabled"]
    if "description" in raw:
        if not isinstance(raw["description"], str) or len(raw["description"]) > 500:
            errors.append('"description" must be a string of at most 500 characters.')
        else:
            fields["description"] = raw["description"]
    if command:
        if not isinstance(command, str) or len(command) > 500:
            errors.append('"command" must be a string of at most 500 characters.')
        if "headers" in raw:
            errors.append('"headers" belong to url servers, not stdio ones.')
        kind = raw.get("type") or raw.get("transport")
        if kind not in (None, "stdio"):
            errors.append(f'A server with "command" is a stdio server, not {kind!r}.')
        cwd = raw.get("cwd", "")
        if not isinstance(cwd, str) or len(cwd) > 500:
            errors.append('"cwd" must be a string of at most 500 characters.')
            cwd = ""
        fields.update(
            transport=T.STDIO,
            command=command if isinstance(command, str) else "",
            args=_strings(raw.get("args", []), '"args"', errors),
            env=_mapping(raw.get("env", {}), '"env"', errors),
            cwd=cwd,
            url="",
            headers={},
        )
    else:
        if not isinstance(url, str) or len(url) > 500:
            errors.append('"url" must be a string of at most 500 characters.')
            return entry
        try:
            URLValidator(schemes=["http", "https", "ws", "wss"])(url)
        except ValidationError:
            errors.append(f'"url" must be an http(s):// or ws(s):// URL, not {url!r}.')
        kind = raw.get("type") or raw.get("transport")
        websocket_url = url.lower().startswith(("ws://", "wss://"))
        if kind is None:
            transport = T.WEBSOCKET if websocket_url else T.STREAMABLE_HTTP
        elif not isinstance(kind, str) or kind.lower() not in URL_TYPES:
            errors.append(f'Unknown "type" {kind!r}: use http, streamable-http, sse or websocket.')
            transport = T.STREAMABLE_HTTP
        else:
            transport = URL_TYPES[kind.lower()]
        if (transport == T.WEBSOCKET) != websocket_url:
            errors.append("WebSocket servers need a ws:// or wss:// URL, and only they may have one.")
        if "env" in raw or "args" in raw:
            errors.append('"env" and "args" belong to stdio servers, not url ones.')
        fields.update(
            transport=transport,
            url=url,
            headers=_mapping(raw.get("headers", {}), '"headers"', errors),
            command="",
            args=[],
            env={},
        )
    entry.transport = fields.get("transport", "")
    return entry


def _changes(entry: Entry, stored: MCPServer) -> list[str]:
    """What an update would change, naming secret keys but never their values."""
    changes = []
    for name, value in entry.fields.items():
        current = getattr(stored, name)
        if name in SECRET_FIELDS:
            added = sorted(set(value) - set(current))
            removed = sorted(set(current) - set(value))
            changed = sorted(k for k in set(value) & set(current) if value[k] and value[k] != current[k])
            for label, keys in (("added", added), ("removed", removed), ("changed", changed)):
                if keys:
                    changes.append(f"{name} {label}: {', '.join(keys)}")
        elif value != current:
            changes.append(f"{name}: {current!r} → {value!r}")
    return changes


def _target_change(entry: Entry, stored: MCPServer) -> str:
    """What in the entry points the server somewhere new ("" if nothing does): the secrets were for the old one."""
    fields = entry.fields
    if fields.get("transport", stored.transport) != stored.transport:
        return "transport"
    if stored.transport == T.STDIO:
        if fields.get("command", stored.command) != stored.command:
            return "command"
        if fields.get("args", stored.args) != list(stored.args or []):
            return "arguments"
        return ""
    return "URL" if fields.get("url", stored.url) != stored.url else ""


def _keep_stored_secrets(entry: Entry, stored: MCPServer) -> None:
    # An empty value for a key the server already has means "keep it": exports leave values out. Not when the
    # file points the server at another URL or command: the next connection would hand the old host's secret
    # to the new one. Then only the values the file states are kept.
    changed = _target_change(entry, stored)
    for name in SECRET_FIELDS:
        if name not in entry.fields:
            continue
        current = getattr(stored, name) or {}
        if not changed:
            entry.fields[name] = {k: (v or current.get(k, "")) for k, v in entry.fields[name].items()}
            continue
        dropped = sorted(k for k, v in entry.fields[name].items() if not v and current.get(k))
        entry.fields[name] = {k: v for k, v in entry.fields[name].items() if v}
        if dropped:
            entry.warnings.append(
                f"The {changed} changed, so the stored {name} value(s) of {', '.join(dropped)} are dropped; "
                "give them in the file to keep them."
            )


def config_plan(data: str | bytes) -> Plan:
    """Read an `mcpServers` file and say what importing it would do, entry by entry. Changes nothing."""
    servers = config_load(data)
    entries = [_entry_parse(key, raw) for key, raw in servers.items()]
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.name and entry.name in seen:
            entry.errors.append(f"Same server name '{entry.name}' as '{seen[entry.name]}'.")
        seen.setdefault(entry.name, entry.key)
    stored = {s.name: s for s in MCPServer.objects.filter(name__in=[e.name for e in entries if e.name])}
    for entry in entries:
        current = stored.get(entry.name)
        if current is None:
            entry.action = "create"
            empty = sorted(k for name in SECRET_FIELDS for k, v in entry.fields.get(name, {}).items() if not v)
            if empty:
                entry.warnings.append(f"No value for: {', '.join(empty)}.")
            continue
        _keep_stored_secrets(entry, current)
        entry.changes = _changes(entry, current)
        entry.action = "update" if entry.changes else "unchanged"
    return _check_models(Plan(entries=entries))


def _check_models(plan: Plan) -> Plan:
    """Run the model's own validation on every entry, so saving cannot fail half-way."""
    for entry in plan.entries:
        if entry.errors:
            continue
        server = MCPServer(name=entry.name, **entry.fields)
        try:
            server.full_clean(exclude=["name"], validate_unique=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                entry.errors.extend(f"{name}: {message}" for message in messages)
    return plan


@transaction.atomic
def config_apply(plan: Plan, *, user: Any = None) -> tuple[int, int]:
    """Create or update the servers of a checked plan, all or nothing; return (created, updated).

    `user` is who imported it, for the audit log (None: the command line)."""
    if not plan.ok:
        raise ConfigError("The file has errors; nothing was changed.")
    created = updated = 0
    for entry in plan.entries:
        if entry.action == "unchanged":
            continue
        server = MCPServer.objects.select_for_update().filter(name=entry.name).first()
        if server is None:
            server = MCPServer.objects.create(name=entry.name, **entry.fields)
            audit_record(user=user, action=AuditEntry.Action.CREATED, target=server, details={"via": "import"})
            created += 1
            continue
        changed = [name for name, value in entry.fields.items() if getattr(server, name) != value]
        for name, value in entry.fields.items():
            setattr(server, name, value)
        server.save()
        audit_record(
            user=user, action=AuditEntry.Action.CHANGED, target=server, details={"fields": changed, "via": "import"}
        )
        updated += 1
    return created, updated


def config_export(servers: Iterable[MCPServer], *, include_secrets: bool = False) -> dict[str, Any]:
    """The `mcpServers` document for these servers; secret values only when asked for."""

    def secrets(values: dict[str, str]) -> dict[str, str]:
        return dict(values) if include_secrets else dict.fromkeys(values, "")

    document: dict[str, Any] = {}
    for server in servers:
        if server.transport == T.STDIO:
            entry: dict[str, Any] = {"command": server.command, "args": list(server.args or [])}
            if server.env:
                entry["env"] = secrets(server.env)
            if server.cwd:
                entry["cwd"] = server.cwd
        else:
            entry = {"type": EXPORT_TYPES[server.transport], "url": server.url}
            if server.headers:
                entry["headers"] = secrets(server.headers)
        if server.description:
            entry["description"] = server.description
        if not server.enabled:
            entry["disabled"] = True
        document[server.name] = entry
    return {"mcpServers": document}
