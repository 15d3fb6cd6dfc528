from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.management.commands.create_token import Command
from core.models import ApiToken
from core.tokens import token_authenticate

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_token", *args, stdout=out)
    return out.getvalue()


def test_it_prints_only_a_token_that_authenticates(alice):
    output = _run("alice")
    assert output.endswith("\n")
    assert len(output.splitlines()) == 1
    assert token_authenticate(output.strip()) == alice


def test_it_names_the_token_and_sets_its_expiry(alice):
    _run("alice", "--name", "nightly backup", "--expires-in-days", "7")
    token = ApiToken.objects.get(user=alice)
    assert token.name == "nightly backup"
    assert 6 < (token.expires_at - token.created_at).total_seconds() / 86400 <= 7


def test_it_fails_for_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        _run("nobody")
    assert not ApiToken.objects.exists()


def test_it_exits_non_zero_with_the_error_on_stderr(db, capsys):
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "create_token", "nobody"])
    captured = capsys.readouterr()
    assert exited.value.code != 0
    assert captured.out == ""
    assert "No user named 'nobody'" in captured.err


def test_it_refuses_an_inactive_user(alice):
    alice.is_active = False
    alice.save()
    with pytest.raises(CommandError, match="inactive"):
        _run("alice")
    assert not ApiToken.objects.exists()
