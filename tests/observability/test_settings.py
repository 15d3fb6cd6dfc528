from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TRACE_RETENTION_DAYS", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.TRACE_RETENTION_DAYS, settings.METRICS_DIR)"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("value", ["thirty", "-1", "1.5"])
def test_it_refuses_to_start_with_a_bad_trace_retention(value):
    result = _start({"TRACE_RETENTION_DAYS": value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "TRACE_RETENTION_DAYS" in result.stderr


def test_it_refuses_an_otlp_endpoint_that_is_not_a_url():
    result = _start({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert result.returncode != 0 and "OTEL_EXPORTER_OTLP_ENDPOINT" in result.stderr


def test_it_keeps_traces_thirty_days_and_metrics_under_var_by_default(tmp_path):
    result = _start({"SWITCHBOARD_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["30", str(tmp_path / "metrics")]
    assert (tmp_path / "metrics").is_dir()


def test_it_chooses_prometheus_multiprocess_mode_from_the_setting():
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(settings.METRICS_DIR)
    from prometheus_client import values

    assert values.ValueClass.__name__ == "MmapedValue"


@pytest.mark.parametrize(("value", "expected"), [("1", "traced"), ("0", "untraced")])
def test_it_traces_runs_unless_traces_is_off(value, expected):
    script = (
        "import django; django.setup(); import agents; "
        "t = agents.trace('probe'); print('untraced' if type(t).__name__ == 'NoOpTrace' else 'traced')"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRACES"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "TRACES": value},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == expected
