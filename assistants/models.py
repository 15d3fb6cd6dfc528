from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from core.crypto import EncryptedTextField
from core.grants import granted_to
from core.ids import new_assistant_id
from core.network import url_refusal
from core.presence import rows_exist
from mcp_servers.models import MCPServer


class Provider(models.Model):
    class Kind(models.TextChoices):
        OFFLINE = "offline", "Offline (built in)"
        OPENAI = "openai", "OpenAI"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"

    class ApiStyle(models.TextChoices):
        RESPONSES = "responses", "Responses"
        CHAT_COMPLETIONS = "chat_completions", "Chat Completions"

    name = models.CharField(max_length=100, unique=True)
    # A provider an administrator adds is a real endpoint: the offline one comes with `setup_demo`.
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OPENAI_COMPATIBLE)
    api_style = models.CharField("API style", max_length=20, choices=ApiStyle.choices, default=ApiStyle.RESPONSES)
    base_url = models.URLField("base URL", max_length=500, blank=True)
    api_key = EncryptedTextField(blank=True, help_text="Encrypted at rest; write-only.")
    default_model = models.CharField(max_length=200, blank=True)
    timeout = models.FloatField(default=60.0, validators=[MinValueValidator(1)])
    max_retries = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(10)])
    enabled = models.BooleanField(default=True)
    everyone = models.BooleanField(
        "available to everyone", default=True, help_text="Every user may use it. Off: only the groups below."
    )
    groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="providers", help_text="Members of these groups may use it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.base_url and (refusal := url_refusal(self.base_url)):
            raise ValidationError({"base_url": refusal})


MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.000001")


class ModelPriceQuerySet(models.QuerySet):
    def for_model(self, *, provider_id: int | None, model: str) -> ModelPrice | None:
        """This model's own price on this provider, else the provider's any-model price, else None."""
        if provider_id is None or not rows_exist(ModelPrice):
            return None
        prices = self.filter(provider_id=provider_id, model__in=[model, ""])
        return max(prices, key=lambda price: price.model == model, default=None)


class ModelPrice(models.Model):
    """What a provider charges per million tokens, for one model or (model empty) for any it serves."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="prices")
    model = models.CharField(max_length=200, blank=True, help_text="Empty: every model of this provider not listed.")
    input_per_million = models.DecimalField(
        "input, per million tokens", max_digits=12, decimal_places=4, validators=[MinValueValidator(0)]
    )
    output_per_million = models.DecimalField(
        "output, per million tokens", max_digits=12, decimal_places=4, validators=[MinValueValidator(0)]
    )

    objects = ModelPriceQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "model"]
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="one_price_per_model")]

    def __str__(self) -> str:
        return f"{self.provider} {self.model or '(any model)'}"

    def cost(self, *, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """What these tokens cost, to a millionth of the currency unit."""
        total = prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        return (total / MILLION).quantize(COST_QUANTUM)


# The OpenAI Assistants v2 limits, so metadata written here reads back through any Assistants client.
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512


def validate_metadata(value: object) -> None:
    """Metadata is at most 16 string pairs: keys up to 64 characters, values up to 512."""
    if not isinstance(value, dict):
        raise ValidationError("Metadata must be an object of string keys and string values.")
    if len(value) > METADATA_MAX_PAIRS:
        raise ValidationError(f"Metadata holds at most {METADATA_MAX_PAIRS} pairs.")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValidationError("Metadata keys and values must be strings.")
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise ValidationError(f"Metadata keys are at most {METADATA_KEY_MAX_CHARS} characters.")
        if len(item) > METADATA_VALUE_MAX_CHARS:
            raise ValidationError(f"Metadata values are at most {METADATA_VALUE_MAX_CHARS} characters.")


FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FUNCTION_KEYS = frozenset({"name", "description", "parameters", "strict"})
FUNCTIONS_MAX = 128


def function_problem(function: object) -> str | None:
    """What is wrong with one function tool's definition (OpenAI's `function` object), or None."""
    if not isinstance(function, dict):
        return "must be an object with a name, and optionally a description, parameters and strict."
    unknown = sorted(set(function) - FUNCTION_KEYS)
    if unknown:
        return f"has unknown field(s): {', '.join(unknown)}."
    name = function.get("name")
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        return "name must be 1 to 64 letters, digits, underscores or dashes."
    if not isinstance(function.get("description", ""), str) or len(function.get("description", "")) > 1024:
        return "description must be a string of at most 1,024 characters."
    if not isinstance(function.get("strict", False), bool):
        return "strict must be true or false."
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict):
        return "parameters must be a JSON Schema object."
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        return f"parameters is not a valid JSON Schema: {exc.message[:200]}"
    if parameters.get("type", "object") != "object":
        return 'parameters must describe an object ("type": "object").'
    return None


def validate_functions(value: object) -> None:
    """Function tools: a list of OpenAI `function` definitions with distinct names."""
    if not isinstance(value, list):
        raise ValidationError("Function tools must be a list.")
    if len(value) > FUNCTIONS_MAX:
        raise ValidationError(f"An assistant has at most {FUNCTIONS_MAX} function tools.")
    names = set()
    for index, function in enumerate(value):
        problem = function_problem(function)
        if problem:
            raise ValidationError(f"Function tool {index}: {problem}")
        if function["name"] in names:
            raise ValidationError(f"Two function tools are named {function['name']!r}.")
        names.add(function["name"])


def response_format_problem(value: object) -> str | None:
    """What is wrong with an Assistants `response_format` ("auto", text, json_object or json_schema), or None."""
    if value == "auto":
        return None
    if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
        return 'must be "auto" or an object whose type is text, json_object or json_schema.'
    if value["type"] != "json_schema":
        return None if set(value) == {"type"} else "has fields its type does not take."
    if set(value) != {"type", "json_schema"} or not isinstance(value["json_schema"], dict):
        return "of type json_schema needs a json_schema object (name, schema, and optionally description, strict)."
    spec = value["json_schema"]
    unknown = sorted(set(spec) - {"name", "description", "schema", "strict"})
    if unknown:
        return f"json_schema has unknown field(s): {', '.join(unknown)}."
    if not isinstance(spec.get("name"), str) or not FUNCTION_NAME.match(spec["name"]):
        return "json_schema.name must be 1 to 64 letters, digits, underscores or dashes."
    if not isinstance(spec.get("strict", False), bool) or not isinstance(spec.get("description", ""), str):
        return "json_schema.strict must be true or false and json_schema.description a string."
    schema = spec.get("schema", {"type": "object"})
    if not isinstance(schema, dict):
        return "json_schema.schema must be a JSON Schema object."
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"json_schema.schema is not a valid JSON Schema: {exc.message[:200]}"
    return None


def response_format_auto() -> str:
    return "auto"


def validate_response_format(value: object) -> None:
    problem = response_format_problem(value)
    if problem:
        raise ValidationError(f"The response format {problem}")


# auto, required, none, or a tool name; MCP tool names use these characters.
validate_tool_choice = RegexValidator(r"^[A-Za-z0-9_.\-]*$", "Use auto, required, none, or a tool name.")


class AssistantQuerySet(models.QuerySet):
    def usable_by(self, user) -> AssistantQuerySet:
        """Assistants this user may chat with: their own, and the shared ones granted to everyone or to one of
        their groups (superusers: every shared one)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_superuser:
            return self.filter(Q(owner=user) | Q(owner__isnull=True))
        return self.filter(Q(owner=user) | Q(pk__in=Assistant.objects.shared_with(user).values("pk")))

    def shared_with(self, user) -> AssistantQuerySet:
        """Shared assistants granted to this user: to everyone, or to one of their groups."""
        return self.filter(owner__isnull=True).filter(granted_to(Assistant, user))


class Assistant(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_assistant_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assistants",
        help_text="Empty: shared with every user.",
    )
    name = models.CharField(max_length=256)
    description = models.CharField(max_length=512, blank=True)
    instructions = models.TextField(blank=True, max_length=256_000)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="assistants")
    model = models.CharField(max_length=200, blank=True, help_text="Empty: the provider's default model.")
    temperature = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(2)])
    top_p = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)])
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    parallel_tool_calls = models.BooleanField(default=True)
    tool_choice = models.CharField(
        max_length=100, blank=True, validators=[validate_tool_choice], help_text="auto, required, none, or a tool name."
    )
    mcp_servers = models.ManyToManyField(MCPServer, blank=True, related_name="assistants")
    response_format = models.JSONField(
        default=response_format_auto,
        blank=True,
        validators=[validate_response_format],
        help_text='"auto" (text), or {"type": "json_object"} or {"type": "json_schema", …}: JSON answers.',
    )
    functions = models.JSONField(
        "function tools",
        default=list,
        blank=True,
        validators=[validate_functions],
        help_text="Functions the caller runs itself (OpenAI's function tools): the run waits for their outputs.",
    )
    file_search = models.JSONField(
        null=True,
        blank=True,
        help_text='The file_search tool and its settings ({"max_num_results": …}); empty: no file search.',
    )
    tool_resources = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"file_search": {"vector_store_ids": […]}}: the vector stores its file search reads.',
    )
    # Who may use a shared assistant (one without an owner); an owned one is its owner's alone.
    everyone = models.BooleanField(
        "available to everyone",
        default=True,
        help_text="Shared assistants: every user may use it. Off: only the groups below.",
    )
    groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="assistants",
        help_text="Shared assistants: members of these groups may use it, with its provider and MCP servers.",
    )
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_metadata])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AssistantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def model_name(self) -> str:
        return self.model or self.provider.default_model
