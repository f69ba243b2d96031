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
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from edgetui.childenv import child_env
from edgetui.errors import UserError
from edgetui.models import cache_subdir, gguf

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
POLL_S = 0.2  # how often pause, skip and abort are looked at while the quantizer runs
# A quantizer that says nothing this long is hung (llama.cpp prints a line per tensor; the largest
# tensor of a 70B model takes a minute on a slow board); one that takes longer than the deadline too.
QUANTIZE_STALL_S = 600.0
QUANTIZE_BASE_S = 600.0
QUANTIZE_MIN_BYTES_PER_S = 1e6


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
                 progress: Callable[[int, int], None] | None = None, nthread: int = 0,
                 control: Callable[[], bool] | None = None, say: Callable[[str], None] | None = None,
                 deadline_s: float | None = None, stall_s: float = QUANTIZE_STALL_S) -> tuple[Path, bool]:
    """The cached variant, made first when it is not there or is not whole; returns (path, made_now).

    requantize: the source is already quantised (llama.cpp then needs allow_requantize).
    progress(done, total) is called while the tensors are converted. control() is polled about
    every POLL_S while the quantizer runs: True holds it (paused: the child stopped, its clocks
    with it), an exception stops it (skip, abort: the child is killed, nothing is left in the
    cache, and the exception goes on). QuantizeError with the quantizer's own words when it
    refuses (a type that needs an importance matrix, say), and when it passes deadline_s (by
    default from the source's size, quantize_deadline_s) or says nothing for stall_s."""
    dest = variant_path(source_sha256, qtype)
    if dest.is_file():
        torn = unusable(dest)
        if torn is None:
            return dest, False
        if say is not None:
            say(f"the cached {qtype} variant is not whole ({torn}): making it again")
        dest.unlink(missing_ok=True)
        dest.with_suffix(".json").unlink(missing_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    log = dest.with_name(f".{dest.name}.{os.getpid()}.log")
    cmd = [sys.executable, "-m", "edgetui.models.quantize", str(source), str(partial), qtype, str(nthread)]
    if requantize:
        cmd.append("--requantize")
    limit = quantize_deadline_s(source.stat().st_size) if deadline_s is None else deadline_s
    try:
        with log.open("w") as log_file:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env=child_env(), errors="replace")
            try:
                _follow(proc, log_file, progress, control, limit, stall_s, qtype)
            finally:
                if proc.poll() is None:  # stopped (skip, abort, a deadline) or the caller interrupted
                    proc.kill()
                proc.wait()
        code = proc.returncode
        if code != 0 or not partial.is_file():
            raise QuantizeError(_refusal(log.read_text(errors="replace"), code, qtype))
        _fsync(partial)  # on disk before its name says it is whole: a crash never leaves a torn variant
        bad = unusable(partial)
        if bad is not None:
            raise QuantizeError(f"llama.cpp's quantizer wrote no whole {qtype} GGUF file: {bad}")
        os.replace(partial, dest)
        record = {"source": str(source), "source_sha256": source_sha256, "type": qtype,
                  "requantized": requantize, "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_synced(dest.with_suffix(".json"), json.dumps(record, indent=1))
        _fsync_dir(dest.parent)
    finally:
        partial.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    return dest, True


def quantize_deadline_s(source_bytes: int) -> float:
    """How long making a variant may take: QUANTIZE_BASE_S, and a second per MB of source (the
    slowest board quantizes faster than that): past it the quantizer is taken for hung."""
    return QUANTIZE_BASE_S + source_bytes / QUANTIZE_MIN_BYTES_PER_S


def unusable(path: Path) -> str | None:
    """Why a variant file cannot be used (a header that does not read, fewer bytes than its
    tensors need: a copy cut short, a crash before an older edgetui synced it), or None."""
    try:
        gguf.read_info(path)
    except UserError as exc:
        return exc.message
    return None


def _follow(proc: subprocess.Popen, log_file: TextIO, progress: Callable[[int, int], None] | None,
            control: Callable[[], bool] | None, limit_s: float, stall_s: float, qtype: str) -> None:
    """Read the quantizer's output to its end: its log, its progress, the control polled between
    lines, its deadlines kept (paused time not counted). QuantizeError past a deadline."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="quantizer-output", daemon=True).start()
    started = last_line = time.monotonic()
    paused_s, paused_since = 0.0, None
    last_progress = 0.0
    while True:
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            line = ""
        now = time.monotonic()
        if line is None:
            return
        if line:
            last_line = now
            log_file.write(line)
            m = _TENSOR_LINE.search(line)
            if m and progress is not None and now - last_progress >= PROGRESS_PERIOD_S:
                last_progress = now
                progress(int(m.group(1)), int(m.group(2)))
        if control is not None:
            hold = control()  # raises to stop: the caller's finally kills the child
            if hold and paused_since is None:
                os.kill(proc.pid, signal.SIGSTOP)
                paused_since = now
            elif not hold and paused_since is not None:
                os.kill(proc.pid, signal.SIGCONT)
                paused_s += now - paused_since
                last_line += now - paused_since
                paused_since = None
        if paused_since is not None:
            continue
        if now - started - paused_s > limit_s:
            raise QuantizeError(f"llama.cpp's quantizer took longer than {limit_s:.0f} s making {qtype}: killed")
        if now - last_line > stall_s:
            raise QuantizeError(f"llama.cpp's quantizer said nothing for {stall_s:.0f} s making {qtype} "
                                "(it reports every tensor): killed")


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _refusal(log_text: str, code: int, qtype: str) -> str:
    """The quantizer's reason, from its log: its error lines, else how the child ended."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    said = [ln for ln in lines if re.search(r"(?i)failed|error|please|not supported|unsupported|abort", ln)]
    how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    reason = " | ".join(said[-3:]) if said else " | ".join(lines[-3:])
    return f"llama.cpp's quantizer refused {qtype} ({how}): {reason or 'no message'}"


# ------------------------------------------------------------------ the child


def _log_callback_factory() -> object:
    import ctypes

    import llama_cpp

    last = [2]

    def to_stderr(level: int, text: bytes, user_data: int | None) -> None:
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
