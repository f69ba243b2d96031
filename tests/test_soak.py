"""Soak runs without a model: the profile key (a sweep axis, ids of profiles without it unchanged),
the schedule (back to back until the window is full; a resumed soak starts again), the columns
(sustained rate, drop, time to throttle, steady temperature) and the ranking criteria."""

from __future__ import annotations

import pytest

from edgetui.errors import UserError
from edgetui.profiles.estimate import estimate_seconds
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import load_profile
from edgetui.ranking.criteria import CRITERIA, parse_weights
from edgetui.run.aggregate import result_row
from edgetui.run.context import ConfigPeaks
from edgetui.run.schedule import FixedSchedule, SoakSchedule, Step, schedule_for
from edgetui.run.soak import SOAK_TAG, SoakTrace, last_window, soak_columns, soak_context
from edgetui.rundir.columns import RESULT_COLUMNS

from conftest import smollm2_profile, write_profile


def _profile(tmp_path, soak: str = ""):
    text = smollm2_profile("soak", threads=(2,)).replace("[workload]\n", f"[workload]\n{soak}\n")
    return load_profile(write_profile(tmp_path / "p.toml", text))


def test_soak_s_is_a_sweep_axis_and_leaves_the_ids_of_other_profiles_as_they_were(tmp_path):
    plain = expand(_profile(tmp_path))
    one = expand(_profile(tmp_path, "soak_s = 600"))
    two = expand(_profile(tmp_path, "soak_s = [60, 600]"))
    assert [c.soak_s for c in plain] == [None] and "soak_s" not in _id_key(plain[0])
    assert [c.soak_s for c in one] == [600.0] and [c.soak_s for c in two] == [60.0, 600.0]
    assert len({plain[0].config_id, one[0].config_id, two[0].config_id}) == 3
    assert one[0].config_id == two[1].config_id
    assert "soak600s" in one[0].describe()
    # a soak lasts its window, whatever `repetitions` says
    assert estimate_seconds(one, decode_tps=1e9, prefill_tps=1e9, load_s=0) == pytest.approx(600.0)


def _id_key(c) -> dict:
    from edgetui.profiles.plan import ID_FIELDS, LATER_ID_FIELDS

    key = {f: getattr(c, f) for f in ID_FIELDS}
    key.update({f: getattr(c, f) for f, before in LATER_ID_FIELDS.items() if getattr(c, f) != before})
    return key


@pytest.mark.parametrize("value", ["0", "-5", '"long"', "[]"])
def test_a_bad_soak_is_refused_naming_the_key(tmp_path, value):
    with pytest.raises(UserError) as err:
        _profile(tmp_path, f"soak_s = {value}")
    assert "workload.soak_s" in str(err.value)


def _run(schedule, durations: list[float]) -> list[Step]:
    """Drive a schedule as the runner does, each counted repetition lasting the next duration."""
    t = 100.0
    steps = []
    it = iter(durations)
    for step in schedule.steps():
        steps.append(step)
        d = 0.5 if step.warmup else next(it)
        schedule.record(step, {"t_start": t, "t_end": t + d})
        t += d
    return steps


def test_a_soak_runs_counted_repetitions_until_its_window_is_full():
    steps = _run(SoakSchedule(warmup=1, soak_s=10.0), [3.0] * 10)
    assert [s.warmup for s in steps] == [True, False, False, False, False]  # 3, 6, 9 s: one more; 12 s: full
    assert [s.rep for s in steps if not s.warmup] == [0, 1, 2, 3]
    assert all(s.tags == {SOAK_TAG: 0} for s in steps if not s.warmup)


def test_a_resumed_soak_starts_again_numbered_after_what_is_on_disk():
    c = expand_one_with_soak()
    schedule = schedule_for(c, {0, 1, 2})
    assert isinstance(schedule, SoakSchedule)
    steps = _run(schedule, [4.0] * 10)
    counted = [s for s in steps if not s.warmup]
    assert [s.rep for s in counted] == [3, 4, 5] and {s.tags[SOAK_TAG] for s in counted} == {3}
    assert isinstance(schedule_for(expand_one_with_soak(None), set()), FixedSchedule)


def expand_one_with_soak(soak_s: float | None = 10.0):
    from edgetui.profiles.plan import Configuration

    return Configuration(profile="p", engine="llama_cpp", engine_url=None, model="m", model_name="m",
                         model_path=None, n_threads=1, n_gpu_layers=0, n_ctx=128, n_batch=64, flash_attn="auto",
                         kv_cache_type="f16", prompt_tokens=8, prompt=None, gen_tokens=8, repetitions=3, warmup=1,
                         soak_s=soak_s)


def _reps(window: int, starts: list[float], decode: list[float], first_rep: int = 0) -> list[dict]:
    return [{"config_id": "x", "rep": first_rep + i, "warmup": False, "t_start": t, "t_end": t + 1.0,
             "decode_tps": d, SOAK_TAG: window} for i, (t, d) in enumerate(zip(starts, decode))]


def test_sustained_rate_is_the_last_quarter_and_the_drop_is_against_the_first():
    # a 100 s window from t=0: first quarter before 25 s, last quarter from 75 s
    reps = _reps(0, [0, 10, 20, 30, 50, 74, 75, 90], [40, 40, 40, 35, 30, 28, 20, 30])
    cols = soak_columns({"soak_s": 100.0}, reps)
    assert cols["sustained_tps"] == pytest.approx(25.0)  # the two that started at 75 and 90 s
    assert cols["tps_drop_pct"] == pytest.approx(100 * (1 - 25 / 40))
    assert soak_columns({"soak_s": None}, reps) == {"soak_s": None, "sustained_tps": None, "tps_drop_pct": None}


def test_only_the_last_window_of_a_configuration_counts():
    cut_short = _reps(0, [0, 10], [99, 99])
    again = _reps(2, [500, 510, 520, 530], [40, 40, 30, 30], first_rep=2)
    assert last_window(cut_short + again) == again
    plain = [{"rep": 0, "decode_tps": 1.0}]
    assert last_window(plain) == plain


def _trace(samples, reps, soak_s: float = 100.0) -> SoakTrace:
    """A soak's trace fed as the sampler (samples) and the runner (counted repetitions) feed it."""
    trace = SoakTrace(soak_s)
    pending = list(reps)
    for t, temp, thr in samples:
        while pending and pending[0][1] < t:  # the runner reports a repetition once it has ended
            trace.counted_rep(*pending.pop(0))
        trace.add(t, temp, thr)
    for rep in pending:
        trace.counted_rep(*rep)
    return trace


def test_time_to_throttle_and_steady_temperature_come_from_the_samples_of_the_window():
    samples = [(k / 10, 50.0 + k / 10, k >= 437) for k in range(0, 1200)]  # 0 to 120 s, one per 0.1 s
    reps = [(10.0 + 10 * i, 20.0 + 10 * i) for i in range(10)]  # the window: 10 s to 110 s
    out = _trace(samples, reps).columns()
    assert out["time_to_throttle_s"] == pytest.approx(43.7 - 10.0)
    steady = [50.0 + k / 10 for k in range(850, 1101)]  # 85 s to the window's end; not what came after it
    assert out["temp_c_steady"] == pytest.approx(sum(steady) / len(steady))
    none_seen = _trace([(t, temp, False) for t, temp, _ in samples], reps).columns()
    assert none_seen["time_to_throttle_s"] is None
    assert soak_context(None) == {"time_to_throttle_s": None, "temp_c_steady": None}


def test_throttling_only_in_the_warm_up_is_not_in_the_window():
    samples = [(k / 10, 50.0, k < 50) for k in range(0, 300)]  # throttled until 5 s, the window from 10 s
    out = _trace(samples, [(10.0, 20.0), (20.0, 30.0)], soak_s=20.0).columns()
    assert out["time_to_throttle_s"] is None and out["temp_c_steady"] == 50.0


def test_a_soaks_trace_keeps_no_more_than_one_repetition_of_samples():
    trace = SoakTrace(10_000.0)
    for i in range(2000):
        for k in range(10):
            trace.add(i + k / 10, 60.0, False)
        trace.counted_rep(float(i), i + 0.95)
    assert len(trace._waiting) <= 10


def test_peaks_keep_the_evidence_seen_and_the_soak_when_there_is_one():
    peaks = ConfigPeaks.of(5.0)
    for t in range(10):
        peaks.add({"t": float(t), "temp_c_max": 60.0, "throttled": t >= 7,
                   "throttle_source": ["cpufreq"] if t >= 7 else []})
    peaks.counted_rep(2.0, 4.0)
    peaks.counted_rep(4.0, 8.0)
    assert peaks.throttle_sources == {"cpufreq"} and peaks.soak is not None
    assert peaks.soak.window == (2.0, 8.0)
    assert soak_context(peaks.soak)["time_to_throttle_s"] == 5.0
    assert ConfigPeaks.of(None).soak is None  # no soak: no samples kept


def test_rows_without_a_soak_leave_its_columns_empty():
    cfg = expand_one_with_soak(None).to_dict()
    row = result_row(cfg, [{"config_id": cfg["config_id"], "rep": 0, "warmup": False, "decode_tps": 10.0,
                            "t_start": 0.0, "t_end": 1.0}], status="done", error=None, context={})
    new = ("soak_s", "sustained_tps", "tps_drop_pct", "time_to_throttle_s", "temp_c_steady", "throttle_source")
    assert set(new) <= set(RESULT_COLUMNS)
    assert all(row[c] is None for c in new)
    soaked = expand_one_with_soak(100.0).to_dict()
    row = result_row(soaked, _reps(0, [0, 80], [40, 30]), status="done", error=None,
                     context={"time_to_throttle_s": 12.5, "throttle_source": "cpufreq", "throttled": True})
    assert (row["soak_s"], row["sustained_tps"], row["repetitions"]) == (100.0, 30.0, 2)
    assert row["time_to_throttle_s"] == 12.5 and row["throttle_source"] == "cpufreq"


def test_sustained_and_drop_are_ranking_criteria():
    assert CRITERIA["sustained"].column == "sustained_tps" and CRITERIA["sustained"].higher_is_better
    assert CRITERIA["drop"].column == "tps_drop_pct" and not CRITERIA["drop"].higher_is_better
    assert parse_weights("sustained=2,tps_drop_pct=1") == {"sustained": 2.0, "drop": 1.0}
