"""One narrator: the console's log and the headless runner's output tell a run from its events,
through rundir.narrate, in the same words (the end-to-end check on a real run is in
test_run_integration.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.rundir.events import ConfigEnd, ConfigStart, Loaded, Phase, decode_event
from edgetui.rundir.follow import LOG_LINES, LiveState
from edgetui.rundir.narrate import SKIPPED_BY_USER, Narrator, Told
from edgetui.rundir.store import read_jsonl

RECORDED = sorted((Path(__file__).parent / "fixtures" / "tui").glob("run-*/events.jsonl"))


def narrated(records: list[dict]) -> list[Told]:
    narrator = Narrator()
    return [told for rec in records if (ev := decode_event(rec)) is not None for told in narrator.tell(ev)]


@pytest.mark.parametrize("events", RECORDED, ids=lambda p: p.parent.name)
def test_the_consoles_log_of_a_recorded_run_is_the_narrators(events):
    records = list(read_jsonl(events))
    state = LiveState()
    state.feed_events(records)
    told = narrated(records)
    assert any(t.text.startswith("[1/") for t in told) and any(t.text.startswith("  rep ") for t in told)
    assert [(line.text, line.style) for line in state.log] == [tuple(t) for t in told][-LOG_LINES:]


def test_a_skip_reads_the_same_in_both_and_says_who_skipped():
    start = ConfigStart(config_id="a", index=1, n=2, describe="smol Q4_0", config={"profile": "bench"}, t=1.0)
    end = ConfigEnd(config_id="a", status="skipped", error=SKIPPED_BY_USER, t=2.0)
    narrator = Narrator()
    assert narrator.tell(start) == [Told("[1/2] a bench: smol Q4_0")]  # the profile named, as the runner did
    assert narrator.tell(end) == [Told("  skipped by the user", "warn")]
    state = LiveState()
    state.feed_events([start, end])
    assert [line.text for line in state.log] == ["[1/2] a bench: smol Q4_0", "  skipped by the user"]


def test_a_cool_down_to_a_temperature_is_told_once_not_at_every_reading():
    narrator = Narrator()
    lines = [t.text for i in range(5)
             for t in narrator.tell(Phase(phase="cooldown", temp_c=70.0 - i, target_c=60.0, t=float(i)))]
    assert lines == ["  cooling down: 70.0 C, waiting for 60 C"]


def test_the_load_and_a_quantizing_are_moments_of_the_log_with_their_facts():
    narrator = Narrator()
    assert narrator.tell(Loaded(config_id="a", load_s=0.271, engine_version="llama.cpp b1")) == [
        Told("  loaded in 0.27 s (llama.cpp b1)")]
    made = narrator.tell(Phase(phase="quantize", quant="Q8_0", model="m.gguf", cached=False))
    assert made == [Told("  quantizing m.gguf to Q8_0 with llama.cpp's quantizer (once: the variant is cached "
                         "for later runs)")]
    cached = narrator.tell(Phase(phase="quantize", quant="Q8_0", model="m.gguf", cached=True))
    assert "quantizer" not in cached[0].text


def test_a_failure_is_told_with_the_start_of_its_reason():
    narrator = Narrator()
    narrator.tell(ConfigStart(config_id="a", index=1, n=1, describe="x"))
    told = narrator.tell(ConfigEnd(config_id="a", status="failed", error="ChildDied: exit 9\nlog 1\nlog 2\nlog 3\nlog 4"))
    assert [t.text for t in told] == ["  FAILED: ChildDied: exit 9", "    log 1", "    log 2", "    log 3"]
    assert {t.style for t in told} == {"error"}
