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
def test_setup_demo_is_idempotent_and_prints_the_admin_password_once(capsys):
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
