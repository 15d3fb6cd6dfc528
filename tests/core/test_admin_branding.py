"""The admin is Switchboard's: its name, plain labels, sensible defaults, and an icon."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders

from assistants.models import Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="root-password-1"))
    return client


def test_it_brands_the_admin(root):
    page = root.get("/admin/").content.decode()
    assert "Switchboard administration" in page and "Django administration" not in page
    assert "<title>Switchboard administration | Switchboard administration</title>" in page
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page


def test_it_labels_provider_fields_plainly_and_starts_a_new_one_as_openai_compatible(root):
    page = root.get("/admin/assistants/provider/add/").content.decode()
    assert ">API style:</label>" in page and ">Base URL:</label>" in page
    assert '<option value="openai_compatible" selected>' in page
    assert '<option value="chat_completions" selected>' in page
    assert Provider._meta.get_field("kind").default == Provider.Kind.OPENAI_COMPATIBLE


def test_it_names_the_import_button_and_says_mcp_servers_once_in_the_breadcrumb(root):
    page = root.get("/admin/mcp_servers/mcpserver/").content.decode()
    assert "Import MCP servers (JSON)" in page
    crumbs = page[page.index('<div class="breadcrumbs">') :].split("</div>", 1)[0]
    assert crumbs.count("MCP servers") == 1, crumbs


def test_it_serves_a_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/favicon.svg")
    assert finders.find("favicon.svg")


def test_it_names_the_icon_on_the_sites_pages(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in page
