"""The offline model streams its reply at a readable pace, set by OFFLINE_STREAM_DELAY_MS (0: all at once)."""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time

from agents import Agent, Runner

from assistants.offline import OfflineModel
from tests.live import REPO_ROOT


async def _delta_times(message: str) -> list[float]:
    result = Runner.run_streamed(Agent(name="paced", model=OfflineModel()), input=message)
    times = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            times.append(time.monotonic())
    return times


async def test_it_pauses_between_the_words_of_its_reply(settings):
    settings.OFFLINE_STREAM_DELAY_MS = 20

    times = await _delta_times("hello there")

    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) > 5
    # Measured where the words arrive: one that arrives late (a busy machine) makes the next gap look short, so
    # the pace is checked over the reply and at the median gap, not at the shortest.
    assert times[-1] - times[0] >= 0.019 * len(gaps), f"{len(times)} words in {(times[-1] - times[0]) * 1000:.0f} ms"
    assert statistics.median(gaps) >= 0.019, f"the median pause was {statistics.median(gaps) * 1000:.1f} ms"


async def test_it_sends_every_word_at_once_without_a_delay(settings):
    settings.OFFLINE_STREAM_DELAY_MS = 0

    times = await _delta_times("hello there")

    assert len(times) > 5 and times[-1] - times[0] < 0.25  # paced at 20 ms a word, this reply takes over 0.3 s


def _settings_error(value: str) -> str:
    env = {**os.environ, "OFFLINE_STREAM_DELAY_MS": value, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.OFFLINE_STREAM_DELAY_MS"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stderr


def test_it_refuses_a_delay_that_is_not_a_number_of_milliseconds():
    assert "OFFLINE_STREAM_DELAY_MS must be a whole number of milliseconds" in _settings_error("fast")
    assert "OFFLINE_STREAM_DELAY_MS must be from 0 to 1000" in _settings_error("-5")


def test_it_streams_at_full_speed_in_the_benchmark():
    source = (REPO_ROOT / "bench" / "run.py").read_text()

    assert 'OFFLINE_STREAM_DELAY_MS="0"' in source
