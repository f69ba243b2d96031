"""A power trace bounded in memory keeps the energy of a window opened long ago: a 20-minute
repetition at 100 Hz (past the 200,000 samples the trace holds) keeps its energy figure, and a
hole in the samples is still seen after the samples around it were thinned."""

from __future__ import annotations

import math
import random

import pytest

from edgetui.run.energy import PowerTrace, integrate_power

HZ = 100.0


def power(t: float) -> float:
    return 5.0 + 2.0 * math.sin(t / 7.0)


def exact_joules(t0: float, t1: float) -> float:
    return 5.0 * (t1 - t0) - 14.0 * (math.cos(t1 / 7.0) - math.cos(t0 / 7.0))


def test_a_twenty_minute_repetition_at_100_hz_keeps_its_energy():
    trace = PowerTrace()  # the sampler's own bound: 200,000 samples
    hole = (600.0, 602.0)  # the sensor said nothing for 2 s, ten minutes in
    n = int(35 * 60 * HZ)  # 35 minutes: the trace thins its older half twice
    for i in range(n):
        t = i / HZ
        if not hole[0] < t < hole[1]:
            trace.add(t, power(t), counter=False)
    assert len(trace.ts) <= trace.max_samples
    t0, t1 = 12 * 60.0 + 0.123, 32 * 60.0 + 0.456  # opened 23 minutes before the last sample
    energy = trace.energy(t0, t1, max_gap_s=0.5)
    assert energy == pytest.approx(exact_joules(t0, t1), rel=1e-6)
    assert trace.mean_power(t0, t1, max_gap_s=0.5) == pytest.approx(exact_joules(t0, t1) / (t1 - t0), rel=1e-6)
    # the hole, in the thinned part, still refuses the windows over it, and only those
    assert trace.energy(590.0, 700.0, max_gap_s=0.5) is None
    assert trace.energy(590.0, 599.0, max_gap_s=0.5) == pytest.approx(exact_joules(590.0, 599.0), rel=1e-6)


def test_an_energy_counter_keeps_long_windows_too():
    def joules(t: float) -> float:  # a board drawing 3 W, 1 mW more each second
        return 1000.0 + 3.0 * t + 0.0005 * t * t

    trace = PowerTrace(max_samples=1000)
    for i in range(20_000):
        t = i / 10.0
        trace.add(t, joules(t), counter=True)
    assert len(trace.ts) <= 1000
    assert trace.energy(12.34, 1987.65, max_gap_s=0.5) == pytest.approx(joules(1987.65) - joules(12.34), rel=1e-5)


def test_until_it_thins_the_trace_is_the_trapezoid_rule_exactly():
    rng = random.Random(7)
    ts, ws = [], []
    t = 0.0
    trace = PowerTrace()
    for _ in range(500):
        t += rng.uniform(0.01, 0.2)
        w = rng.uniform(0.0, 20.0)
        ts.append(t)
        ws.append(w)
        trace.add(t, w, counter=False)
    for _ in range(200):
        a, b = sorted(rng.uniform(ts[0], ts[-1]) for _ in range(2))
        assert trace.energy(a, b, max_gap_s=1.0) == pytest.approx(integrate_power(ts, ws, a, b), rel=1e-9, abs=1e-9)
