"""Read a GGUF file's header: enough to refuse a file that is not GGUF or is truncated,
name its quantisation, and estimate the memory it needs, before any model is loaded."""

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
}
# ggml tensor type -> (elements per block, bytes per block), for the expected file size
TYPE_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_WANTED_SUFFIXES = (".context_length", ".block_count", ".embedding_length", ".attention.head_count",
                    ".attention.head_count_kv", ".attention.key_length", ".attention.value_length")


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
        if not (layers and heads and embd):
            return None
        k_len = self.arch_value(".attention.key_length") or embd // heads
        v_len = self.arch_value(".attention.value_length") or embd // heads
        return int(layers * n_ctx * kv_heads * (k_len + v_len) * bytes_per_element)


class _Reader:
    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f, self.path = f, path

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise UserError("truncated GGUF file: its header ends early", where=str(self.path))
        return b

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.scalar("<Q")
        if n > 1 << 30:
            raise UserError("corrupt GGUF file: absurd string length in header", where=str(self.path))
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, n = self.scalar("<I"), self.scalar("<Q")
            if etype in _SCALARS and not keep:  # skip fixed-size arrays in one seek
                self.f.seek(n * struct.calcsize(_SCALARS[etype]), 1)
                return None
            items = [self.value(etype, keep) for _ in range(n)]
            return items if keep else None
        raise UserError(f"corrupt GGUF file: unknown value type {vtype}", where=str(self.path))


def read_info(path: str | Path) -> GGUFInfo:
    """Parse the header; raise UserError if the file is missing, not GGUF, or truncated."""
    path = Path(path)
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except FileNotFoundError:
        raise UserError("model file not found", where=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read model file: {exc.strerror}", where=str(path)) from None
    with f:
        r = _Reader(f, path)
        magic = f.read(4)
        if magic != b"GGUF":
            raise UserError(f"not a GGUF file (starts with {magic!r}, expected b'GGUF')", where=str(path))
        version = r.scalar("<I")
        if version not in (2, 3):
            raise UserError(f"unsupported GGUF version {version}", where=str(path))
        n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
        info = GGUFInfo(path=path, version=version, n_tensors=n_tensors, file_size=size)
        for _ in range(n_kv):
            key = r.string()
            vtype = r.scalar("<I")
            keep = key.startswith("general.") or key.endswith(_WANTED_SUFFIXES)
            value = r.value(vtype, keep=keep and vtype != 9)
            if keep:
                info.metadata[key] = value
        alignment = int(info.metadata.get("general.alignment", 32))
        end = 0
        known = True
        for _ in range(n_tensors):
            r.string()
            n_dims = r.scalar("<I")
            dims = [r.scalar("<Q") for _ in range(n_dims)]
            ttype, offset = r.scalar("<I"), r.scalar("<Q")
            count = 1
            for d in dims:
                count *= d
            info.n_params += count
            if ttype not in TYPE_SIZES:
                known = False
                continue
            block, nbytes = TYPE_SIZES[ttype]
            end = max(end, offset + count // block * nbytes)
        data_start = -(-f.tell() // alignment) * alignment
        if known:
            info.expected_size = data_start + end
            if size < info.expected_size:
                raise UserError(
                    f"truncated GGUF file: {size} bytes, its tensors need {info.expected_size}",
                    where=str(path),
                )
    return info


def quant_from_name(path: str | Path) -> str | None:
    """Fallback: the quantisation written in the file name (Q4_K_M, Q8_0, F16...)."""
    import re

    m = re.search(r"(?i)(IQ\d_[A-Z]+|Q\d_K_[SML]|Q\d_K|Q\d_\d|BF16|F16|F32)", Path(path).name)
    return m.group(1).upper() if m else None
