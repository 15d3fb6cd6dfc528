"""Assistant management: who may see, use and change what, and the workflows that change it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from assistants.factory import model_refusal
from assistants.models import Assistant, Provider
from core.errors import ServiceError
from core.grants import granted_to
from mcp_servers.models import MCPServer

User = get_user_model()


# Fields a caller may set on an assistant; owner and id are never taken from input.
ASSISTANT_FIELDS = frozenset(
    {
        "name",
        "description",
        "instructions",
        "provider",
        "model",
        "temperature",
        "top_p",
        "max_output_tokens",
        "parallel_tool_calls",
        "tool_choice",
        "mcp_servers",
        "functions",
        "file_search",
        "tool_resources",
        "response_format",
        "metadata",
    }
)


def assistant_can_edit(*, user: AbstractBaseUser, assistant: Assistant) -> bool:
    """Owners edit their own assistants; shared ones (no owner) only superusers."""
    if assistant.owner_id is None:
        return bool(user.is_superuser)
    return assistant.owner_id == user.pk


def assistant_get(*, user: AbstractBaseUser, assistant_id: str, for_update: bool = False) -> Assistant:
    """One assistant the user may use; `for_update` also requires that they may change it.

    Another user's assistant is `not_found`, so it looks the same as one that does not exist; a shared one a
    non-superuser may see but not change is `permission_denied`.
    """
    try:
        assistant = Assistant.objects.usable_by(user).select_related("provider").get(pk=assistant_id)
    except (Assistant.DoesNotExist, ValueError, TypeError):
        raise ServiceError.not_found("assistant", assistant_id) from None
    if for_update and not assistant_can_edit(user=user, assistant=assistant):
        raise ServiceError("permission_denied", "Only an administrator can change a shared assistant.")
    return assistant


def provider_usable(*, user: AbstractBaseUser) -> QuerySet[Provider]:
    """Providers a user may pick: the enabled ones granted to everyone or to one of their groups (superusers:
    every enabled one)."""
    providers = Provider.objects.filter(enabled=True)
    if not user.is_superuser:
        providers = providers.filter(granted_to(Provider, user))
    return providers.order_by("name")


def provider_models_known(*, user: AbstractBaseUser, provider: Provider) -> list[str]:
    """The models this provider is known to serve, to offer a user: its default and those of the assistants on it
    the user may use (a vendor's whole list is the vendor's to give), leaving out any it says it cannot serve."""
    assistants = Assistant.objects.usable_by(user).filter(provider=provider)
    names = [provider.default_model, *assistants.values_list("model", flat=True)]
    return sorted({name for name in names if name and not model_refusal(provider=provider, model_name=name)})


def mcp_server_usable(*, user: AbstractBaseUser) -> QuerySet[MCPServer]:
    """Enabled MCP servers a user may attach to their assistants (and run on them).

    Superusers may attach any enabled server. Everyone else may attach the servers granted to everyone or to one
    of their groups, and those on a shared assistant granted to them: an administrator offers a server by
    granting it, or by putting it on a shared assistant. A server configured but not offered stays private, since
    it may reach resources (a stdio command, an internal URL) not meant for every user.

    A server granted to no group also counts where an administrator put it on the user's own assistant (as before
    groups existed); once a server is granted to groups, only the grants and shared assistants decide, so leaving
    the group takes it away. A user's own remote servers (`MCPServer.owner`) are theirs alone.
    """
    # A user's own remote servers are theirs alone, whoever else is asking.
    servers = MCPServer.objects.filter(enabled=True).filter(Q(owner__isnull=True) | Q(owner=user))
    if user.is_superuser:
        return servers.order_by("name")
    attached = MCPServer.assistants.through.objects
    shared = Assistant.objects.usable_by(user).filter(owner__isnull=True).values("pk")
    on_shared = attached.filter(assistant__in=shared).values("mcpserver_id")
    on_own = attached.filter(assistant__owner=user).values("mcpserver_id")
    restricted = MCPServer.groups.through.objects.values("mcpserver_id")
    servers = servers.filter(
        granted_to(MCPServer, user) | Q(pk__in=on_shared) | (Q(pk__in=on_own) & ~Q(pk__in=restricted)) | Q(owner=user)
    )
    return servers.order_by("name")


def assistant_run_refusal(*, assistant: Assistant, user: AbstractBaseUser | None, server_ids: Iterable[int]) -> str:
    """Why this user may not run this assistant now ("" if they may): its grant, provider or a server was taken
    from them since the conversation began. Every interface's runs end up here, so a revoked grant holds.
    `user` is read fresh by the caller (None: the account is gone)."""
    if user is None or not user.is_active:
        return "The account that owns this conversation is inactive."
    if user.is_superuser:
        return ""
    if assistant.owner_id is None:
        # A shared assistant brings its provider and servers with its grant.
        if not Assistant.objects.shared_with(user).filter(pk=assistant.pk).exists():
            return f"The assistant '{assistant.name}' is no longer available to you."
        return ""
    if assistant.owner_id != user.pk:
        return f"The assistant '{assistant.name}' is not yours."
    if not provider_usable(user=user).filter(pk=assistant.provider_id).exists():
        return f"The provider '{assistant.provider.name}' is not available to you; choose another for the assistant."
    wanted = set(server_ids)
    if wanted:
        allowed = set(mcp_server_usable(user=user).filter(pk__in=wanted).values_list("pk", flat=True))
        if wanted - allowed:
            names = ", ".join(sorted(MCPServer.objects.filter(pk__in=wanted - allowed).values_list("name", flat=True)))
            return f"The MCP server(s) {names} are not available to you; remove them from the assistant."
    return ""


def _assistant_clean(
    *, user: AbstractBaseUser, assistant: Assistant, mcp_servers: list[MCPServer] | None, provider_changed: bool
) -> None:
    """Validate an unsaved assistant and its servers; refuse with the errors per field."""
    errors: dict[str, list[str]] = {}
    try:
        assistant.full_clean(exclude=["owner", "mcp_servers"])
    except ValidationError as exc:
        errors.update({field: list(messages) for field, messages in exc.message_dict.items()})
    provider = assistant.provider if assistant.provider_id else None
    if provider is not None and "model" not in errors:
        if not (model_name := assistant.model or provider.default_model):
            errors.setdefault("model", []).append("Enter a model: this provider has no default model.")
        elif refusal := model_refusal(provider=provider, model_name=model_name):
            errors.setdefault("model", []).append(refusal)
    added: set[int] = set()
    if mcp_servers is not None:
        adding = assistant._state.adding
        current = set() if adding else set(assistant.mcp_servers.values_list("pk", flat=True))
        added = {server.pk for server in mcp_servers} - current
    for field, messages in assistant_choices_check(
        user=user, provider=provider if provider_changed else None, servers_added=added
    ).items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        raise ServiceError.invalid(errors)


def assistant_choices_check(
    *, user: AbstractBaseUser, provider: Provider | None, servers_added: Iterable[int], whose: str = "you"
) -> dict[str, list[str]]:
    """The errors, per field, of giving an assistant this provider and these newly added servers as `user`.

    A provider or server already on the assistant may stay (even if disabled since): pass only what changes.
    """
    errors: dict[str, list[str]] = {}
    if provider is not None and not provider_usable(user=user).filter(pk=provider.pk).exists():
        errors["provider"] = [f"Choose an enabled provider {whose} may use."]
    added = set(servers_added)
    if added and added - set(mcp_server_usable(user=user).filter(pk__in=added).values_list("pk", flat=True)):
        errors["mcp_servers"] = [f"Choose only MCP servers {whose} may use."]
    return errors


def _unknown_fields(fields: Iterable[str]) -> None:
    unknown = sorted(set(fields) - ASSISTANT_FIELDS)
    if unknown:
        raise ServiceError.invalid({name: ["Unknown field."] for name in unknown})


def assistant_create(
    *,
    user: AbstractBaseUser,
    name: str,
    provider: Provider | None = None,
    model: str = "",
    instructions: str = "",
    description: str = "",
    temperature: float | None = None,
    top_p: float | None = None,
    mcp_servers: Iterable[MCPServer] = (),
    metadata: dict | None = None,
    **settings: Any,
) -> Assistant:
    """Create an assistant owned by the user; without a provider, the first enabled one is used."""
    _unknown_fields(settings)
    if provider is None:
        # The first one set up: on a fresh install, the offline provider.
        provider = provider_usable(user=user).order_by("pk").first()
        if provider is None:
            raise ServiceError.invalid({"provider": ["No provider is enabled; ask an administrator to add one."]})
    assistant = Assistant(
        owner=user,
        name=name.strip() if isinstance(name, str) else name,
        provider=provider,
        model=model,
        instructions=instructions,
        description=description,
        temperature=temperature,
        top_p=top_p,
        metadata={} if metadata is None else metadata,
        **settings,
    )
    servers = list(mcp_servers)
    _assistant_clean(user=user, assistant=assistant, mcp_servers=servers, provider_changed=True)
    with transaction.atomic():
        assistant.save()
        assistant.mcp_servers.set(servers)
    return assistant


def assistant_update(*, user: AbstractBaseUser, assistant: Assistant, **fields: Any) -> Assistant:
    """Change only the given fields of an assistant the user may edit."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    _unknown_fields(fields)
    servers = fields.pop("mcp_servers", None)
    servers = None if servers is None else list(servers)
    old_provider_id = assistant.provider_id
    for field, value in fields.items():
        if field == "metadata" and value is None:
            value = {}
        elif field == "name" and isinstance(value, str):
            value = value.strip()
        setattr(assistant, field, value)
    _assistant_clean(
        user=user, assistant=assistant, mcp_servers=servers, provider_changed=assistant.provider_id != old_provider_id
    )
    with transaction.atomic():
        assistant.save()
        if servers is not None:
            assistant.mcp_servers.set(servers)
    return assistant


def assistant_delete(*, user: AbstractBaseUser, assistant: Assistant) -> None:
    """Delete an assistant the user may edit; its conversations stay, showing a deleted assistant."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    assistant.delete()


def assistant_duplicate(*, user: AbstractBaseUser, assistant: Assistant) -> Assistant:
    """Copy an assistant the user may use (a shared one too) into a new one the user owns."""
    source = assistant_get(user=user, assistant_id=assistant.pk)
    name_field = Assistant._meta.get_field("name")
    copy = Assistant(
        owner=user,
        name=f"Copy of {source.name}"[: name_field.max_length],
        description=source.description,
        instructions=source.instructions,
        provider=source.provider,
        model=source.model,
        temperature=source.temperature,
        top_p=source.top_p,
        max_output_tokens=source.max_output_tokens,
        parallel_tool_calls=source.parallel_tool_calls,
        tool_choice=source.tool_choice,
        metadata=dict(source.metadata or {}),
    )
    # The source's servers are usable by the user by definition (it is an assistant they may use), and its
    # provider may stay as it is: a copy works exactly as well as the original.
    servers = list(source.mcp_servers.all())
    with transaction.atomic():
        copy.save()
        copy.mcp_servers.set(servers)
    return copy
