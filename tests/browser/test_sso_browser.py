"""Single sign-on end to end in chromium: a real OpenID Connect provider (oidc-provider, run by node) on loopback,
Switchboard served by Daphne, the user created on first sign-in with their groups, and a group removed at the
provider taking effect on the next sign-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.chromium import chromium_page
from tests.live import DAPHNE, REPO_ROOT, Site, _free_port, _stop, _wait_for_health, site_create, tail

OIDC_PROVIDER = REPO_ROOT / "tests" / "fakes" / "oidc_provider.mjs"
CLIENT_ID, CLIENT_SECRET = "switchboard", "client-secret-for-tests"
UI_TIMEOUT_MS = 30_000
# A shared assistant only the research group may use: what a user sees tells which groups they are in.
GRANTED_ASSISTANT = """
from django.contrib.auth.models import Group
from assistants.models import Assistant, Provider
research = Group.objects.create(name="research")
assistant = Assistant.objects.create(name="Research assistant", provider=Provider.objects.get(name="Offline"),
                                     everyone=False)
assistant.groups.add(research)
"""
GROUPS_OF = """
from django.contrib.auth import get_user_model
user = get_user_model().objects.filter(username=%r).first()
print(None if user is None else sorted(user.groups.values_list("name", flat=True)), user and user.has_usable_password())
"""


@dataclass
class Sso:
    site: Site
    url: str
    accounts: Path

    def give(self, login: str, groups: list[str]) -> None:
        self.accounts.write_text(json.dumps({login: {"email": f"{login}@example.org", "groups": groups}}))

    def groups_of(self, username: str) -> str:
        return self.site.manage("shell", "-c", GROUPS_OF % username).strip().splitlines()[-1]


def _wait_for_port(process: subprocess.Popen, log: Path, port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the OpenID provider exited:\n{tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)  # nothing to await: the provider says it is ready only by listening
    pytest.fail(f"the OpenID provider did not listen:\n{tail(log)}")


@pytest.fixture(scope="module")
def sso(tmp_path_factory) -> Iterator[Sso]:
    if not shutil.which("node") or not (REPO_ROOT / "node_modules" / "oidc-provider").exists():
        pytest.fail("node and node_modules/oidc-provider are needed: run `make test` (it runs `npm ci`)")
    tmp = tmp_path_factory.mktemp("sso")
    op_port, app_port = _free_port(), _free_port()
    app_url, issuer = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{op_port}"
    accounts = tmp / "accounts.json"
    env = {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_SCOPES": "openid email profile groups",
        "OIDC_PROVIDER_NAME": "Example SSO",
    }
    site = site_create(tmp, users=(), env=env)
    site.manage("shell", "-c", GRANTED_ASSISTANT)
    op_log, app_log = tmp / "oidc-provider.log", tmp / "daphne.log"
    op_env = {**os.environ, "PORT": str(op_port), "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
              "REDIRECT_URI": f"{app_url}/oidc/callback/", "ACCOUNTS_FILE": str(accounts)}  # fmt: skip
    with op_log.open("wb") as out:
        op = subprocess.Popen(["node", str(OIDC_PROVIDER)], cwd=REPO_ROOT, env=op_env, stdout=out, stderr=out)
    app = None
    try:
        _wait_for_port(op, op_log, op_port)
        with app_log.open("wb") as out:
            app = subprocess.Popen(
                [DAPHNE, "-b", "127.0.0.1", "-p", str(app_port), "config.asgi:application"],
                cwd=REPO_ROOT, env=site.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_for_health(app_url, app, app_log, timeout=60)
        yield Sso(site=site, url=app_url, accounts=accounts)
    finally:
        if app is not None:
            _stop(app)
        _stop(op)


@pytest.fixture
def page(request) -> Iterator[Page]:
    with chromium_page(request, timeout_ms=UI_TIMEOUT_MS) as page:
        yield page


def _sign_in(page: Page, sso: Sso, login: str) -> None:
    page.goto(f"{sso.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    # The provider's own sign-in page (it remembers a signed-in browser and may skip it).
    if page.locator("input[name=login]").count():
        page.fill("input[name=login]", login)
        page.fill("input[name=password]", "any password")
        page.get_by_role("button", name="Sign-in").click()
    page.wait_for_url(f"{sso.url}/")


@pytest.mark.timeout(240)
def test_it_signs_in_through_the_provider_and_follows_its_groups(sso, page):
    sso.give("carol", ["research", "staff-room"])
    _sign_in(page, sso, "carol")
    expect(page.locator("header")).to_contain_text("carol")
    expect(page.locator("body")).to_contain_text("Research assistant")
    assert sso.groups_of("carol") == "['research', 'staff-room'] False"

    # The provider takes research away; the next sign-in takes it away here too.
    sso.give("carol", ["staff-room"])
    page.get_by_role("button", name="Log out carol").click()
    page.wait_for_url(f"{sso.url}/accounts/login/")
    _sign_in(page, sso, "carol")
    expect(page.locator("header")).to_contain_text("carol")
    expect(page.locator("body")).not_to_contain_text("Research assistant")
    assert sso.groups_of("carol") == "['staff-room'] False"
    response = page.request.get(f"{sso.url}/assistants/")
    assert "Research assistant" not in response.text()


@pytest.mark.timeout(120)
def test_it_keeps_local_passwords_beside_sso(sso, page):
    sso.site.manage("shell", "-c", "from django.contrib.auth import get_user_model; "
                    "get_user_model().objects.create_user('dave', password='dave-password-1')")  # fmt: skip
    page.goto(f"{sso.url}/accounts/login/")
    page.fill("#id_username", "dave")
    page.fill("#id_password", "dave-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{sso.url}/")
    expect(page.locator("header")).to_contain_text("dave")
