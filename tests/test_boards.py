"""The board catalogue: matching on model strings (with memory size and accelerator), the
profile's [board] winning field by field, and what the runner records."""

from __future__ import annotations

import pytest

from edgetui.profiles.schema import BoardSpec, load_profile
from edgetui.run.runner import Runner
from edgetui.sensors.catalogue import CATALOGUE, by_name, engine_is_local, match_model, resolve
from edgetui.sensors.host import board_model

from fixtures.sensor_helpers import FIXTURES, path_with

GIB_8 = 7.86  # MemTotal of an 8 GB Pi 5, in GiB


@pytest.mark.parametrize("fixture, key, volume, price", [
    ("jetson-orin-nano", "jetson-orin-nano-devkit", 100 * 79 * 21 / 1000, 304.78),  # 165.9 cm^3
    ("jetson-agx-orin", "jetson-agx-orin-devkit", 110 * 110 * 71.65 / 1000, None),  # 866.965 cm^3
    ("rpi5", "rpi5-8gb", 85 * 56 * 17 / 1000, 222.75),  # 80.92 cm^3
    ("rock5b", "rock-5b", None, None),  # no published height, no single price
    ("x86-rapl", None, None, None),
])
def test_fixture_boards_match_their_entries(fixture, key, volume, price):
    root = FIXTURES / fixture
    facts = resolve(None, board_model(root), root=root)
    assert facts.entry == key
    assert facts.volume_cm3 == (pytest.approx(volume) if volume else None)
    assert facts.price_usd == price


def test_the_hat_plus_2_entry_needs_the_hailo_10h_detected():
    root = FIXTURES / "rpi5"
    model = board_model(root)
    assert resolve(None, model, root=root, accelerators=["HAILO10H"]).entry == "rpi5-ai-hat2"
    hat2 = resolve(None, model, root=root, accelerators=["HAILO10H"])
    assert hat2.volume_cm3 == pytest.approx(85 * 56 * 20 / 1000) and hat2.price_usd == 451.83
    assert resolve(None, model, root=root, accelerators=["HAILO8L"]).entry == "rpi5-8gb"  # the first AI HAT+


def test_a_price_for_one_memory_size_is_not_given_to_another():
    model = "Raspberry Pi 5 Model B Rev 1.0"
    assert match_model(model, memory=GIB_8).key == "rpi5-8gb"
    four = match_model(model, memory=3.95)
    assert four.key == "rpi5" and four.price_usd is None and four.volume_cm3 == pytest.approx(80.92)
    assert match_model(model, memory=None).key == "rpi5"  # memory unknown: no price claimed


@pytest.mark.parametrize("model", [
    "Orange Pi 5 Plus", "Orange Pi 5B", "Radxa ROCK 5B+", "Radxa ROCK 5B Plus", "Raspberry Pi 500 Rev 1.0",
    "Raspberry Pi Compute Module 5 Rev 1.0", "Raspberry Pi 4 Model B Rev 1.5",
])
def test_neighbouring_boards_are_not_taken_for_catalogue_entries(model):
    assert match_model(model, memory=GIB_8) is None


@pytest.mark.parametrize("model, key", [
    ("Orange Pi 5", "orange-pi-5"), ("Radxa ROCK 5 Model B", "rock-5b"), ("Radxa ROCK 5B", "rock-5b"),
    ("NVIDIA Orin NX Developer Kit", "jetson-orin-nx"), ("NVIDIA Jetson Orin Nano Developer Kit", "jetson-orin-nano-devkit"),
])
def test_model_strings_of_the_common_boards(model, key):
    assert match_model(model, memory=GIB_8).key == key


def test_the_profile_wins_field_by_field_and_sources_are_recorded():
    root = FIXTURES / "rpi5"
    facts = resolve(BoardSpec(name="bench pi", volume_cm3=120.0), board_model(root), root=root)
    assert (facts.name, facts.volume_cm3, facts.price_usd) == ("bench pi", 120.0, 222.75)
    assert facts.sources == {"volume_cm3": "profile", "price_usd": "catalogue:rpi5-8gb"}


def test_a_profile_can_name_a_remote_board():
    facts = resolve(BoardSpec(name="M5Stack LLM"), None)
    assert facts.entry == "m5stack-llm" and facts.matched_by == "profile name"
    assert facts.volume_cm3 == pytest.approx(54 * 54 * 13 / 1000)  # 37.908 cm^3
    assert facts.price_usd == 99.90
    assert by_name("rpi5-ai-hat2").price_usd == 451.83  # by key
    assert by_name("Raspberry Pi 5").key == "rpi5"  # a pattern never assumes a memory size


def test_every_paper_board_is_in_the_catalogue_with_its_figures():
    paper = {"m5stack-llm": ((54, 54, 13), 99.90), "rpi5-8gb": ((85, 56, 17), 222.75),
             "rpi5-ai-hat2": ((85, 56, 20), 451.83), "jetson-orin-nano-devkit": ((100, 79, 21), 304.78)}
    entries = {e.key: e for e in CATALOGUE}
    for key, (dims, price) in paper.items():
        assert (entries[key].dimensions_mm, entries[key].price_usd) == (dims, price)


def test_engine_locality():
    assert engine_is_local("llama_cpp", None)
    assert engine_is_local("ollama", "http://localhost:11434")
    assert engine_is_local("openai", "http://127.0.0.1:8000/v1")
    assert not engine_is_local("stackflow", "http://192.168.20.41:10001")


PROFILE = """name = "{name}"
repetitions = 1
{board}
[[models]]
name = "smollm2-135m-q4_1"
{engine}
"""


def runner_context(tmp_path, monkeypatch, fixture: str, board: str = "", engine: str = "", name: str = "p") -> dict:
    root = FIXTURES / fixture
    monkeypatch.setenv("PATH", path_with(root / "bin"))
    path = tmp_path / f"{name}.toml"
    path.write_text(PROFILE.format(name=name, board=board, engine=engine))
    runner = Runner([load_profile(path)], tmp_path / f"out-{name}", sysfs_root=str(root))
    try:
        return runner.context(runner.configs[0])
    finally:
        runner.sensors.close()


def test_runner_records_the_catalogue_board_and_the_detected_power_mode(tmp_path, monkeypatch):
    ctx = runner_context(tmp_path, monkeypatch, "jetson-orin-nano")
    assert ctx["board"] == "Jetson Orin Nano Super Developer Kit (8 GB)"
    assert ctx["board_model"] == "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"
    assert ctx["volume_cm3"] == pytest.approx(165.9) and ctx["price_usd"] == 304.78
    assert ctx["power_mode"] == "MAXN_SUPER"
    assert ctx["power_source"] == "jetson:VDD_IN (module, measured)"


def test_runner_keeps_the_profiles_board_and_power_mode(tmp_path, monkeypatch):
    board = '[board]\nname = "my nano"\nprice_usd = 249.0\npower_mode = "25W"'
    ctx = runner_context(tmp_path, monkeypatch, "jetson-orin-nano", board=board)
    assert (ctx["board"], ctx["price_usd"], ctx["power_mode"]) == ("my nano", 249.0, "25W")
    assert ctx["volume_cm3"] == pytest.approx(165.9)  # not given: the catalogue's


def test_a_remote_engine_takes_nothing_from_this_machines_board(tmp_path, monkeypatch):
    engine = '[engine]\nkind = "ollama"\nurl = "http://192.168.20.41:11434"'
    ctx = runner_context(tmp_path, monkeypatch, "jetson-orin-nano", engine=engine)
    assert ctx["volume_cm3"] is None and ctx["price_usd"] is None and ctx["power_mode"] is None
