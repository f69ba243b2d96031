"""`edgetui sensors --sysfs-root tests/fixtures/<board>` as a user runs it, with the fixture's fake
commands first on PATH: every backend listed with its reason, the board matched, the power source."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from fixtures.sensor_helpers import FIXTURES, path_with


def sensors_json(fixture: str, *bin_dirs: str) -> dict:
    env = {"PATH": path_with(*(FIXTURES / d / "bin" for d in bin_dirs))}
    proc = run_cli("sensors", "--json", "--sysfs-root", str(FIXTURES / fixture), env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def backend(report: dict, name: str) -> dict:
    return next(b for b in report["backends"] if b["backend"] == name)


def value(b: dict, kind: str, name: str):
    return next(r["value"] for r in b["readings"] if r["kind"] == kind and r["name"] == name)


@pytest.mark.parametrize("fixture, bins, source, board", [
    ("jetson-orin-nano", ["jetson-orin-nano"], "jetson:VDD_IN (module, measured)", "jetson-orin-nano-devkit"),
    ("jetson-agx-orin", ["jetson-agx-orin"], "jetson:rails_sum (module, measured)", "jetson-agx-orin-devkit"),
    ("rpi5", ["rpi5", "hailo10h"], "rpi:soc_rails (soc_rails, measured)", "rpi5-ai-hat2"),
    ("rpi4", ["rpi4"], None, None),
    ("rock5b", [], None, "rock-5b"),
    ("x86-rapl", [], "rapl:packages (package, measured)", None),
])
def test_every_fixture_lists_all_backends_the_board_and_the_power_source(fixture, bins, source, board):
    report = sensors_json(fixture, *bins)
    names = [b["backend"] for b in report["backends"]]
    assert {"system", "thermal", "hwmon", "rapl", "jetson", "jtop", "rpi", "hailo", "rk3588", "nvml", "external"} <= set(names)
    assert all(b["reason"] for b in report["backends"])  # detected or not, each says why
    if source:
        assert report["power_source"] == source
    else:
        assert report["power_source"].startswith("no power sensor (")
    assert report["board"]["entry"] == board
    for b in report["backends"]:
        for r in b["readings"]:
            assert set(r) == {"backend", "name", "kind", "value", "unit", "scope", "method"}
            assert r["method"] in ("measured", "estimated", "external")


def test_orin_nano_figures_in_the_json():
    jetson = backend(sensors_json("jetson-orin-nano", "jetson-orin-nano"), "jetson")
    assert value(jetson, "power", "VDD_IN") == pytest.approx(5064 * 1264 / 1e6)
    assert value(jetson, "info", "power_mode") == "MAXN_SUPER"


def test_pi5_with_the_hat_reports_both_and_chooses_the_pmic():
    report = sensors_json("rpi5", "rpi5", "hailo10h")
    assert value(backend(report, "rpi"), "power", "soc_rails") == pytest.approx(3.23372)
    assert value(backend(report, "hailo"), "power", "chip") == 1.875
    assert backend(report, "hailo")["power_source"] is False


def test_rock5b_text_output_gives_the_reason_for_no_power():
    proc = run_cli("sensors", "--sysfs-root", str(FIXTURES / "rock5b"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("board: Radxa ROCK 5B [rock-5b, by model string]: volume n/a, price n/a")
    assert any(line.startswith("[yes] rk3588: Radxa ROCK 5B; NPU per-core load") for line in lines)
    assert lines[-1].startswith("power: no power sensor (rk3588: no power sensor on this board")
