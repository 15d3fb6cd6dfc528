from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from core import metrics
from core.ratelimit import RateLimited, rate_limit_hit
from tests.observability.conftest import metric_value

pytestmark = pytest.mark.django_db

FAMILIES = (
    "switchboard_runs",
    "switchboard_run_duration_seconds",
    "switchboard_time_to_first_token_seconds",
    "switchboard_model_calls",
    "switchboard_model_tokens",
    "switchboard_mcp_tool_calls",
    "switchboard_mcp_tool_call_duration_seconds",
    "switchboard_mcp_connections",
    "switchboard_mcp_reconnects",
    "switchboard_websockets_open",
    "switchboard_runs_queued",
    "switchboard_rate_limit_refusals",
    "switchboard_errors",
)


def _get(client: Client, **headers: str):
    return client.get("/metrics", headers=headers)


def test_it_serves_metrics_to_staff_in_the_prometheus_text_format(charlie):
    from prometheus_client.parser import text_string_to_metric_families

    metrics.error_record(code="provider_unreachable")  # every family has a sample once something counted
    client = Client()
    client.force_login(charlie)
    response = _get(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert "switchboard_errors" in names and "switchboard_websockets_open" in names


def test_it_refuses_metrics_to_users_who_are_not_staff(alice):
    client = Client()
    client.force_login(alice)
    response = _get(client)
    assert response.status_code == 403
    assert b"switchboard_" not in response.content


def test_it_asks_anonymous_callers_to_authenticate():
    response = _get(Client())
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"switchboard_" not in response.content


def test_it_serves_metrics_to_the_scrape_token_only(metrics_token, alice):
    assert _get(Client(), Authorization=f"Bearer {metrics_token}").status_code == 200
    assert _get(Client(), Authorization=f"Bearer {metrics_token}x").status_code == 401
    assert _get(Client(), Authorization=f"Basic {metrics_token}").status_code == 401
    client = Client()
    client.force_login(alice)  # a wrong token does not turn a logged-in user into staff
    assert _get(client, Authorization="Bearer nope").status_code == 403


def test_it_accepts_no_token_when_none_is_configured(settings):
    settings.METRICS_TOKEN = ""
    assert _get(Client(), Authorization="Bearer ").status_code == 401


def test_it_counts_rate_limit_refusals_by_scope(metrics_token, unique):
    scope = f"test-{unique}"
    rate_limit_hit(scope=scope, user_id=1, limit=1, what="tests")
    with pytest.raises(RateLimited):
        rate_limit_hit(scope=scope, user_id=1, limit=1, what="tests")
    text = _get(Client(), Authorization=f"Bearer {metrics_token}").content.decode()
    assert metric_value(text, "switchboard_rate_limit_refusals_total", scope=scope) == 1


def test_it_moves_the_gauges_up_and_down(metrics_token, unique):
    def value(sample: str, **labels: str) -> float:
        text = _get(Client(), Authorization=f"Bearer {metrics_token}").content.decode()
        return metric_value(text, sample, **labels)

    server = f"gauge-{unique}"
    metrics.mcp_connection_open_record(server=server)
    metrics.mcp_connection_open_record(server=server)
    metrics.mcp_connection_close_record(server=server)
    assert value("switchboard_mcp_connections", server=server) == 1
    metrics.mcp_connection_close_record(server=server)
    assert value("switchboard_mcp_connections", server=server) == 0
    with metrics.run_queue_track():
        inside = value("switchboard_runs_queued")
    assert value("switchboard_runs_queued") == inside - 1


def _count_in_child(directory: str, *, label: str, hold_gauge: bool = True) -> None:
    """Count in another process, which then exits: the way a stopped Daphne leaves its files behind."""
    code = (
        "from core import metrics; "
        f"metrics.error_record(code={label!r}); metrics.error_record(code={label!r}); "
        f"metrics.tool_call_record(server={label!r}, tool='t', outcome='ok', seconds=0.3); "
        + ("metrics.websocket_connect_record()" if hold_gauge else "")
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
    subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, check=True, timeout=60)


def _raw(directory: str) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry).decode()


def test_it_adds_up_several_processes_and_keeps_what_stopped_ones_counted(tmp_path):
    directory = str(tmp_path)
    _count_in_child(directory, label="x")
    _count_in_child(directory, label="x")
    assert metric_value(_raw(directory), "switchboard_websockets_open") == 2  # what the stopped ones left
    files = len(os.listdir(directory))

    exposed = metrics.metrics_exposition(directory).decode()
    assert metric_value(exposed, "switchboard_errors_total", code="x") == 4
    assert metric_value(exposed, "switchboard_mcp_tool_call_duration_seconds_count", server="x") == 2
    assert metric_value(exposed, "switchboard_mcp_tool_call_duration_seconds_bucket", server="x", le="0.5") == 2
    assert metric_value(exposed, "switchboard_websockets_open") == 0  # nobody holds those sockets any more
    assert len(os.listdir(directory)) < files
    assert not [name for name in os.listdir(directory) if name.startswith("gauge_")]

    _count_in_child(directory, label="x", hold_gauge=False)
    assert metric_value(metrics.metrics_exposition(directory).decode(), "switchboard_errors_total", code="x") == 6
    assert sorted(name for name in os.listdir(directory) if name.endswith(".db")) == [
        "counter_archive.db",
        "histogram_archive.db",
    ]
