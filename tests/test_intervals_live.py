"""The live screen's tokens/s pane: the mean of this configuration's counted repetitions with its
95% half-width once there are two; the log line of a repetition under repetitions = "auto"."""

from __future__ import annotations

import math

from edgetui.rundir.events import ConfigStart, RepEnd
from edgetui.rundir.follow import LiveState
from edgetui.tui.screens.live import tokens_texts

T_975_DF1 = 12.706204736174705  # Student t, 97.5th percentile, 1 degree of freedom


def state(auto: bool) -> LiveState:
    s = LiveState()
    cfg = {"repetitions": 20 if auto else 3, "warmup": 1, "gen_tokens": 16} | ({"target_ci_pct": 2.0} if auto else {})
    s.feed_event(ConfigStart(config_id="c", index=1, n=1, describe="m t2", config=cfg, t=1.0))
    return s


def test_the_decode_mean_gets_its_interval_from_the_second_repetition():
    s = state(auto=False)
    s.feed_event(RepEnd(config_id="c", rep=0, warmup=True, decode_tps=10.0, t=2.0))
    s.feed_event(RepEnd(config_id="c", rep=0, of=3, decode_tps=40.0, t=3.0))
    assert "mean 40.0" in tokens_texts(s)[0].plain and "±" not in tokens_texts(s)[0].plain
    s.feed_event(RepEnd(config_id="c", rep=1, of=3, decode_tps=42.0, t=4.0))
    half = T_975_DF1 * math.sqrt(2.0) / math.sqrt(2)  # sd of 40 and 42 is sqrt(2)
    assert f"mean 41.0 ± {half:.1f} (95%, 2 reps)" in tokens_texts(s)[0].plain


def test_the_console_log_says_auto_and_its_bound():
    s = state(auto=True)
    s.feed_event(RepEnd(config_id="c", rep=3, of=None, auto_max=20, decode_tps=40.0, t=3.0))
    assert any("rep 4 (auto, ≤20)" in line.text for line in s.log)
