from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command

from assistants.models import Assistant, Provider
from mcp_servers.models import MCPServer


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _check({"DEBUG": "0", "ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts_when_debug_is_off():
    result = _check({"DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_it_starts_with_nothing_set():
    assert _check({}).returncode == 0


def test_it_keeps_agents_tracing_export_off_by_default():
    assert settings.AGENTS_TRACING is False
    assert os.environ["OPENAI_AGENTS_DISABLE_TRACING"] == "1"


@pytest.mark.django_db
def test_setup_demo_is_idempotent_and_prints_the_admin_password_once(capsys, monkeypatch):
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY", "LLM_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    call_command("setup_demo")
    first = capsys.readouterr().out
    call_command("setup_demo")
    second = capsys.readouterr().out
    assert "Admin login (shown once): admin / " in first
    assert "Admin login" not in second
    assert Provider.objects.filter(kind="offline").count() == 1
    assert MCPServer.objects.filter(name="demo").count() == 1
    demo = Assistant.objects.get(name="Demo assistant")
    assert demo.owner is None and list(demo.mcp_servers.values_list("name", flat=True)) == ["demo"]


@pytest.mark.django_db
def test_setup_demo_bootstraps_providers_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    monkeypatch.setenv("GROQ_DEFAULT_MODEL", "llama-test")
    monkeypatch.setenv("LLM_PROVIDER", "groq")
    call_command("setup_demo")
    openai = Provider.objects.get(name="OpenAI")
    groq = Provider.objects.get(name="Groq")
    assert (openai.kind, openai.base_url, openai.api_key) == ("openai", "http://127.0.0.1:9/v1", "sk-from-env")
    assert (groq.kind, groq.default_model, groq.api_key) == ("openai_compatible", "llama-test", "gsk-from-env")
    assert Assistant.objects.get(name="Demo assistant").provider == groq
    assert Assistant.objects.filter(provider=openai).count() == 1

    # After bootstrap the database is the source of truth: a changed env does not overwrite it.
    openai.default_model = "chosen-in-admin"
    openai.save()
    monkeypatch.setenv("OPENAI_DEFAULT_MODEL", "from-env")
    call_command("setup_demo")
    assert Provider.objects.get(name="OpenAI").default_model == "chosen-in-admin"
    assert Provider.objects.filter(name="OpenAI").count() == 1


@pytest.mark.django_db
def test_setup_demo_refuses_an_unknown_llm_provider(monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setenv("LLM_PROVIDER", "nowhere")
    with pytest.raises(CommandError, match="names no configured provider"):
        call_command("setup_demo")
