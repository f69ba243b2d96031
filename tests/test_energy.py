"""Energy over exact windows from synthetic traces whose integrals are known."""

from __future__ import annotations

import pytest

from edgetui.run.energy import PowerTrace, counter_delta, covers, integrate_power
from edgetui.stats import mean, rel_diff, std


def test_constant_power_gives_power_times_time():
    ts = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert integrate_power(ts, [5.0] * 6, 0.1, 0.4) == pytest.approx(1.5)


def test_linear_ramp_is_integrated_exactly_by_the_trapezoid_rule():
    # P(t) = 2 + 4t watts; integral from 0.25 to 0.75 = 2*0.5 + 2*(0.75^2 - 0.25^2) = 1.0 + 1.0 = 2.0 J
    ts = [i / 10 for i in range(11)]
    watts = [2 + 4 * t for t in ts]
    assert integrate_power(ts, watts, 0.25, 0.75) == pytest.approx(2.0)


def test_window_between_two_samples_is_interpolated():
    # 10 W at t=0, 20 W at t=1: mean over [0.4, 0.6] is 15 W -> 3 J
    assert integrate_power([0.0, 1.0], [10.0, 20.0], 0.4, 0.6) == pytest.approx(3.0)


def test_step_change_is_split_at_the_samples():
    # 4 W until t=1, 8 W from t=1.1 (linear between samples); window [0, 2]
    ts = [0.0, 0.5, 1.0, 1.1, 1.5, 2.0]
    watts = [4.0, 4.0, 4.0, 8.0, 8.0, 8.0]
    expected = 4.0 * 1.0 + (4.0 + 8.0) / 2 * 0.1 + 8.0 * 0.9
    assert integrate_power(ts, watts, 0.0, 2.0) == pytest.approx(expected)


def test_energy_counter_is_differenced_and_interpolated():
    ts = [0.0, 1.0, 2.0, 3.0]
    joules = [100.0, 103.0, 109.0, 110.0]
    assert counter_delta(ts, joules, 1.0, 3.0) == pytest.approx(7.0)
    assert counter_delta(ts, joules, 1.5, 2.5) == pytest.approx((109 + 0.5) - (103 + 3.0))


def test_trace_refuses_windows_it_does_not_cover():
    trace = PowerTrace()
    for i in range(11):
        trace.add(i * 0.1, 5.0, counter=False)
    assert trace.energy(0.2, 0.8, max_gap_s=0.3) == pytest.approx(3.0)
    assert trace.mean_power(0.2, 0.8, max_gap_s=0.3) == pytest.approx(5.0)
    assert trace.energy(0.5, 1.6, max_gap_s=0.3) is None  # ends past the last sample
    assert not covers([0.0, 0.1, 1.0], 0.0, 1.0, max_gap_s=0.3)  # a hole inside


def test_trace_is_bounded_and_keeps_the_newest():
    trace = PowerTrace(max_samples=100)
    for i in range(1000):
        trace.add(float(i), 1.0, counter=False)
    assert len(trace.ts) <= 100
    assert trace.ts[-1] == 999.0


def test_stats_keep_missing_values_missing():
    assert mean([None, None]) is None
    assert mean([1.0, None, 3.0]) == 2.0
    assert std([5.0]) is None
    assert std([1.0, 3.0]) == pytest.approx(2 ** 0.5)
    assert rel_diff(100.0, 94.0) == pytest.approx(0.06)
