"""Read a GGUF file's header: enough to refuse a file that is not GGUF, is truncated or is
malformed, name its quantisation, and estimate the memory it needs, before any model is loaded.

A model file is untrusted input (a download, a shared folder): every count, length, dimension
and type is checked against the limits llama.cpp's own reader enforces (ggml/src/gguf.cpp of the
llama.cpp that llama-cpp-python vendors) before it is used, so a crafted header ends in one
UserError naming the file, never in a stall, a crash or a huge allocation."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from edgetui.errors import UserError

# llama_ftype values (general.file_type) -> the names people use
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
    40: "Q1_0", 41: "Q2_0",
}
# ggml tensor type -> (elements per block, bytes per block): every type ggml has (ggml.c's
# type_traits); 4, 5, 31-33 and 36-38 were removed from ggml and are refused, as llama.cpp does.
TYPE_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
    42: (64, 18),
}
GGML_TYPE_COUNT = 43

# llama.cpp's limits (gguf.cpp, ggml.h)
MAX_STRING_LENGTH = 1 << 30  # GGUF_MAX_STRING_LENGTH
MAX_ARRAY_ELEMENTS = 1 << 30  # GGUF_MAX_ARRAY_ELEMENTS
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_NAME = 64  # GGML_MAX_NAME: a tensor's name is shorter
INT64_MAX = 2**63 - 1
SIZE_MAX = 2**64 - 1
DEFAULT_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT
# The fewest bytes one entry takes, to refuse a count the file cannot hold before looping over it
MIN_KV_BYTES = 8 + 1 + 4 + 1  # key length, a key of one byte, the value's type, a one-byte value
MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, dimension count, type, offset

# GGUF value types
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY, UINT32 = 8, 9, 4
TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
              8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}
_WANTED_SUFFIXES = (".context_length", ".block_count", ".embedding_length", ".attention.head_count",
                    ".attention.head_count_kv", ".attention.key_length", ".attention.value_length")
# The GGUF type llama.cpp reads each used key as (llama-model-loader.cpp refuses any other type);
# head counts may also be per-layer arrays (unknown here: the estimate is then not made)
_GENERAL_TYPES: dict[str, tuple[int, ...]] = {
    "general.architecture": (STRING,), "general.alignment": (UINT32,), "general.file_type": (UINT32,)}
_ARCH_TYPES: dict[str, tuple[int, ...]] = {s: (UINT32, ARRAY) if s.endswith(("head_count", "head_count_kv")) else (UINT32,)
               for s in _WANTED_SUFFIXES}


@dataclass
class GGUFInfo:
    path: Path
    version: int
    n_tensors: int
    metadata: dict[str, Any] = field(default_factory=dict)
    expected_size: int | None = None
    file_size: int = 0
    n_params: int = 0  # elements of every tensor: the parameter count llama.cpp reports

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def quant(self) -> str | None:
        ft = self.metadata.get("general.file_type")
        return FILE_TYPES.get(ft, f"type{ft}") if ft is not None else None

    def arch_value(self, suffix: str) -> Any:
        return self.metadata.get(f"{self.architecture}{suffix}")

    def kv_cache_bytes(self, n_ctx: int, bytes_per_element: float = 2.0) -> int | None:
        """K and V for n_ctx tokens: layers x ctx x (kv heads x head dim) x 2, at f16 by default."""
        layers = self.arch_value(".block_count")
        heads = self.arch_value(".attention.head_count")
        kv_heads = self.arch_value(".attention.head_count_kv") or heads
        embd = self.arch_value(".embedding_length")
        if not (layers and heads and embd and kv_heads):
            return None
        k_len = self.arch_value(".attention.key_length") or embd // heads
        v_len = self.arch_value(".attention.value_length") or embd // heads
        return int(layers * n_ctx * kv_heads * (k_len + v_len) * bytes_per_element)


class _Reader:
    def __init__(self, f: BinaryIO, path: Path, size: int) -> None:
        self.f, self.path, self.size = f, path, size

    def corrupt(self, what: str) -> UserError:
        return UserError(f"corrupt GGUF file: {what}", where=str(self.path))

    def ends_early(self, why: str = "") -> UserError:
        """A count or length past the end of the file: torn, or corrupt, the same to the reader."""
        return UserError("truncated GGUF file: its header ends early" + (f" ({why})" if why else ""),
                         where=str(self.path))

    def remaining(self) -> int:
        return self.size - self.f.tell()

    def read(self, n: int) -> bytes:
        b = self.f.read(n) if n <= self.remaining() else b""
        if len(b) != n:
            raise self.ends_early()
        return b

    def skip(self, n: int) -> None:
        if n > self.remaining():
            raise self.ends_early()
        self.f.seek(n, 1)

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string_length(self, what: str) -> int:
        n = self.scalar("<Q")
        if n > MAX_STRING_LENGTH:
            raise self.corrupt(f"{what} is {n} bytes long, past llama.cpp's limit of {MAX_STRING_LENGTH}")
        return n

    def string(self, what: str = "a string") -> str:
        return self.read(self.string_length(what)).decode("utf-8", errors="replace")

    def value(self, vtype: int, key: str, keep: bool) -> Any:
        """A value of the given type; with keep False it is skipped (None), arrays in one seek where
        their items have a fixed size."""
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == STRING:
            if keep:
                return self.string(f"the value of {key}")
            self.skip(self.string_length(f"the value of {key}"))
            return None
        if vtype == ARRAY:
            etype, n = self.scalar("<I"), self.scalar("<Q")
            if etype not in _SCALARS and etype != STRING:
                raise self.corrupt(f"{key} is an array of {_type_name(etype)}; llama.cpp reads arrays of scalars "
                                   "and strings only")
            item = struct.calcsize(_SCALARS[etype]) if etype in _SCALARS else 8  # a string: its length at least
            if n > MAX_ARRAY_ELEMENTS:
                raise self.corrupt(f"{key} declares {n} array items, past llama.cpp's limit of {MAX_ARRAY_ELEMENTS}")
            if n * item > self.remaining():
                raise self.ends_early(f"{key} declares {n} array items, more than the rest of the file holds")
            if etype in _SCALARS and not keep:
                self.skip(n * item)
                return None
            if not keep:  # strings (a vocabulary: 250,000 of them), skipped in a tight loop
                self._skip_strings(n, key)
                return None
            items = [self.value(etype, key, keep) for _ in range(n)]
            return items if keep else None
        raise self.corrupt(f"{key} has unknown value type {vtype}")

    def _skip_strings(self, n: int, key: str) -> None:
        read, unpack = self.f.read, struct.Struct("<Q").unpack
        pos = self.f.tell()
        for _ in range(n):
            head = read(8)
            if len(head) != 8:
                raise self.ends_early()
            (length,) = unpack(head)
            if length > MAX_STRING_LENGTH:
                raise self.corrupt(f"a string of {key} is {length} bytes long, past llama.cpp's limit of "
                                   f"{MAX_STRING_LENGTH}")
            pos += 8 + length
            if pos > self.size:
                raise self.ends_early()
            if length:
                self.f.seek(pos)


def _type_name(vtype: int) -> str:
    return TYPE_NAMES.get(vtype, f"unknown type {vtype}")


def read_info(path: str | Path) -> GGUFInfo:
    """Parse the header; raise UserError if the file is missing, not GGUF, truncated or malformed."""
    path = Path(path)
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except FileNotFoundError:
        raise UserError("model file not found", where=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read model file: {exc.strerror}", where=str(path)) from None
    try:
        with f:
            return _parse(_Reader(f, path, size))
    except OSError as exc:  # a read error under way (a disk, a network share)
        raise UserError(f"cannot read model file: {exc.strerror or exc}", where=str(path)) from None


def _parse(r: _Reader) -> GGUFInfo:
    magic = r.f.read(4)
    if magic != b"GGUF":
        raise UserError(f"not a GGUF file (starts with {magic!r}, expected b'GGUF')", where=str(r.path))
    version = r.scalar("<I")
    if version not in (2, 3):
        raise UserError(f"unsupported GGUF version {version} (llama.cpp reads versions 2 and 3)", where=str(r.path))
    n_tensors, n_kv = r.scalar("<q"), r.scalar("<q")
    if not 0 <= n_kv <= r.remaining() // MIN_KV_BYTES:
        raise r.ends_early(f"it declares {n_kv} metadata keys, more than its {r.size} bytes can hold")
    info = GGUFInfo(path=r.path, version=version, n_tensors=n_tensors, file_size=r.size)
    types: dict[str, int] = {}
    for i in range(n_kv):
        key = r.string(f"metadata key {i}")
        if not key:
            raise r.corrupt(f"metadata key {i} is empty")
        if key in types:
            raise r.corrupt(f"metadata key {key} appears twice")
        vtype = r.scalar("<I")
        types[key] = vtype
        keep = key.startswith("general.") or key.endswith(_WANTED_SUFFIXES)
        value = r.value(vtype, key, keep=keep and vtype != ARRAY)
        if keep:
            info.metadata[key] = value
    _check_types(r, info, types)
    alignment = info.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if alignment == 0 or alignment & (alignment - 1):
        raise r.corrupt(f"general.alignment is {alignment}, not a power of 2")
    if not 0 <= n_tensors <= r.remaining() // MIN_TENSOR_INFO_BYTES:
        raise r.ends_early(f"it declares {n_tensors} tensors, more than its {r.size} bytes can hold")
    names: set[str] = set()
    data_size = end = 0  # the data section as llama.cpp lays it out, and where the last tensor ends
    for i in range(n_tensors):
        raw = r.read(r.string_length(f"the name of tensor {i}"))
        if len(raw) >= MAX_NAME:
            raise r.corrupt(f"tensor {i}'s name is {len(raw)} bytes long; llama.cpp takes fewer than {MAX_NAME}")
        name = raw.decode("utf-8", errors="replace")
        if name in names:
            raise r.corrupt(f"tensor name {name!r} appears twice")
        names.add(name)
        count, nbytes = _tensor_shape(r, name)
        info.n_params += count
        offset = r.scalar("<Q")
        if offset != data_size:  # llama.cpp refuses tensors out of place, holes and overlaps
            raise r.corrupt(f"tensor {name!r} is at offset {offset}, expected {data_size}")
        end = offset + nbytes
        data_size += -(-nbytes // alignment) * alignment
    data_start = -(-r.f.tell() // alignment) * alignment
    info.expected_size = data_start + end
    if r.size < info.expected_size:
        raise UserError(f"truncated GGUF file: {r.size} bytes, its tensors need {info.expected_size}",
                        where=str(r.path))
    return info


def _tensor_shape(r: _Reader, name: str) -> tuple[int, int]:
    """A tensor's shape and type, checked as llama.cpp checks them; its elements and size in bytes."""
    n_dims = r.scalar("<I")
    if n_dims > MAX_DIMS:
        raise r.corrupt(f"tensor {name!r} has {n_dims} dimensions; ggml has at most {MAX_DIMS}")
    dims = [r.scalar("<q") for _ in range(n_dims)]
    count = 1
    for d in dims:
        if d < 0:
            raise r.corrupt(f"tensor {name!r} has a negative dimension ({d})")
        count *= d
        if count > INT64_MAX:
            raise r.corrupt(f"tensor {name!r} has more elements than an int64 counts")
    ttype = r.scalar("<i")
    if ttype not in TYPE_SIZES:
        why = "a type removed from ggml" if 0 <= ttype < GGML_TYPE_COUNT else f"not a ggml type (0 to {GGML_TYPE_COUNT - 1})"
        raise r.corrupt(f"tensor {name!r} has type {ttype}, {why}")
    block, block_bytes = TYPE_SIZES[ttype]
    if (dims[0] if dims else 1) % block:
        raise r.corrupt(f"tensor {name!r} has rows of {dims[0] if dims else 1} elements, not a multiple of "
                        f"its type's block of {block}")
    nbytes = count // block * block_bytes
    if nbytes > SIZE_MAX:
        raise r.corrupt(f"tensor {name!r} is larger than a size_t counts")
    return count, nbytes


def _check_types(r: _Reader, info: GGUFInfo, types: dict[str, int]) -> None:
    """The keys used here have the type llama.cpp reads them as (a string block_count, say, is refused)."""
    wanted = dict(_GENERAL_TYPES)
    arch = info.metadata.get("general.architecture")
    if isinstance(arch, str):
        wanted.update({f"{arch}{suffix}": allowed for suffix, allowed in _ARCH_TYPES.items()})
    for key, allowed in wanted.items():
        if key in types and types[key] not in allowed:
            raise r.corrupt(f"{key} is a {_type_name(types[key])}; llama.cpp reads it as a "
                            f"{' or '.join(_type_name(t) for t in allowed)}")
    # suffix keys of another architecture (or of none) are not this model's: dropped, never used
    for key in [k for k in info.metadata if not k.startswith("general.") and k not in wanted]:
        del info.metadata[key]


def quant_from_name(path: str | Path) -> str | None:
    """Fallback: the quantisation written in the file name (Q4_K_M, Q8_0, F16...)."""
    import re

    m = re.search(r"(?i)(IQ\d_[A-Z]+|Q\d_K_[SML]|Q\d_K|Q\d_\d|BF16|F16|F32)", Path(path).name)
    return m.group(1).upper() if m else None
