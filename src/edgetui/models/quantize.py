"""Quantised variants of a model, made once with llama.cpp's own quantizer and cached.

`[sweep] quant = ["source", "Q8_0", "Q4_0"]`: "source" is the model file as given; every other
value is a variant made from it by `llama_model_quantize` (llama-cpp-python's binding of
llama.cpp's quantizer, as `llama-quantize` runs it), cached in the user cache folder under the
source's sha256 and the type, so a second run, or a second board sharing the cache, reuses it.

The quantizer runs in a child process (`python -m edgetui.models.quantize SRC DST TYPE`): an
abort inside llama.cpp costs that variant, never the runner, and its log gives the reason and
the progress (one line per tensor).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from edgetui.models import cache_subdir
from edgetui.childenv import child_env

SOURCE = "source"

# The types llama-quantize accepts (tools/quantize/quantize.cpp, QUANT_OPTIONS) and their
# llama_ftype values (include/llama.h), in its order; COPY is left out (it quantises nothing).
QUANT_TYPES: dict[str, int] = {
    "Q1_0": 40, "Q2_0": 41, "Q4_0": 2, "Q4_1": 3, "MXFP4_MOE": 38, "Q5_0": 8, "Q5_1": 9,
    "IQ2_XXS": 19, "IQ2_XS": 20, "IQ2_S": 28, "IQ2_M": 29, "IQ1_S": 24, "IQ1_M": 31,
    "TQ1_0": 36, "TQ2_0": 37, "Q2_K": 10, "Q2_K_S": 21, "IQ3_XXS": 23, "IQ3_S": 26, "IQ3_M": 27,
    "IQ3_XS": 22, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "IQ4_NL": 25, "IQ4_XS": 30,
    "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "Q8_0": 7,
    "F16": 1, "BF16": 32, "F32": 0,
}
# llama-quantize's short names for the medium K-quants
ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
# Sources that are not already quantised (no allow_requantize needed)
FULL_PRECISION = ("F32", "F16", "BF16")

_TENSOR_LINE = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\s*\]")
PROGRESS_PERIOD_S = 0.5


class QuantizeError(Exception):
    """The quantizer refused this type for this model, or died: a failed configuration."""


def valid_types_text() -> str:
    return ", ".join(f'"{t}"' for t in (SOURCE, *QUANT_TYPES))


def check_type(value: str) -> str:
    """The canonical name of a quant axis value; ValueError listing the valid ones otherwise."""
    name = value.strip().upper() if isinstance(value, str) else ""
    if isinstance(value, str) and value.strip().lower() == SOURCE:
        return SOURCE
    name = ALIASES.get(name, name)
    if name not in QUANT_TYPES:
        raise ValueError(f"{valid_types_text()} (or the aliases {', '.join(ALIASES)}), got {value!r}")
    return name


def variants_dir() -> Path:
    return cache_subdir("quantized")


def variant_path(source_sha256: str, qtype: str) -> Path:
    """Where the variant of a source (by its sha256) of one type lives in the cache."""
    return variants_dir() / f"{source_sha256[:16]}-{qtype}.gguf"


def made_from(variant: Path) -> dict | None:
    """The record written beside a variant when it was made (source path and sha256, type)."""
    try:
        return json.loads(variant.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None


def make_variant(source: Path, source_sha256: str, qtype: str, *, requantize: bool,
                 progress: Callable[[int, int], None] | None = None, nthread: int = 0) -> tuple[Path, bool]:
    """The cached variant, made first when it is not there; returns (path, made_now).

    requantize: the source is already quantised (llama.cpp then needs allow_requantize).
    progress(done, total) is called while the tensors are converted. QuantizeError with the
    quantizer's own words when it refuses (a type that needs an importance matrix, say)."""
    dest = variant_path(source_sha256, qtype)
    if dest.is_file():
        return dest, False
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    log = dest.with_name(f".{dest.name}.{os.getpid()}.log")
    cmd = [sys.executable, "-m", "edgetui.models.quantize", str(source), str(partial), qtype, str(nthread)]
    if requantize:
        cmd.append("--requantize")
    env = child_env()
    try:
        with log.open("w") as log_file:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                    errors="replace")
            assert proc.stdout is not None
            last = 0.0
            for line in proc.stdout:
                log_file.write(line)
                m = _TENSOR_LINE.search(line)
                if m and progress is not None and time.monotonic() - last >= PROGRESS_PERIOD_S:
                    last = time.monotonic()
                    progress(int(m.group(1)), int(m.group(2)))
            code = proc.wait()
        if code != 0 or not partial.is_file():
            raise QuantizeError(_refusal(log.read_text(errors="replace"), code, qtype))
        os.replace(partial, dest)
        record = {"source": str(source), "source_sha256": source_sha256, "type": qtype,
                  "requantized": requantize, "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        dest.with_suffix(".json").write_text(json.dumps(record, indent=1))
    finally:
        partial.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    return dest, True


def _refusal(log_text: str, code: int, qtype: str) -> str:
    """The quantizer's reason, from its log: its error lines, else how the child ended."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    said = [ln for ln in lines if re.search(r"(?i)failed|error|please|not supported|unsupported|abort", ln)]
    how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    reason = " | ".join(said[-3:]) if said else " | ".join(lines[-3:])
    return f"llama.cpp's quantizer refused {qtype} ({how}): {reason or 'no message'}"


# ------------------------------------------------------------------ the child


def _log_callback_factory():
    import ctypes

    import llama_cpp

    last = [2]

    def to_stderr(level: int, text: bytes, user_data) -> None:
        level = last[0] if level == 5 else level  # 5 continues the previous line
        last[0] = level
        if level != 1:  # debug lines say nothing a reason or a progress line needs
            sys.stderr.write(text.decode("utf-8", errors="replace"))
            sys.stderr.flush()

    callback = llama_cpp.llama_log_callback(to_stderr)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback


def main(argv: list[str] | None = None) -> int:
    import ctypes

    args = list(sys.argv[1:] if argv is None else argv)
    requantize = "--requantize" in args
    args = [a for a in args if a != "--requantize"]
    source, dest, qtype, nthread = args[0], args[1], args[2], int(args[3])
    import llama_cpp

    keep = _log_callback_factory()  # noqa: F841  (C holds the pointer while this runs)
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[qtype]
    params.nthread = nthread
    params.allow_requantize = requantize
    rc = llama_cpp.llama_model_quantize(source.encode(), dest.encode(), ctypes.byref(params))
    return 0 if rc == 0 else 3


if __name__ == "__main__":
    raise SystemExit(main())
