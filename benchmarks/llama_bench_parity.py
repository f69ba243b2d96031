"""edgetui against llama.cpp's own tools, built from the llama.cpp that llama-cpp-python vendors.

Decode: `llama-bench -p 0 -n 64 -d 64 -t T` against `edgetui run --headless` (or, with
--decode-by engine, edgetui's engine alone in a process of its own) on a profile of 64 prompt and
64 generated tokens (decode at the same depth, 64..127), SmolLM2 135M Q4_1, edgetui's decode_tps
(llama.cpp's perf counters) against llama-bench's avg_ts. Quality: `llama-perplexity -c 512
--chunks K` against edgetui's quality pass on the same corpus tokens and window, as tokens
evaluated per second (the pass's own seconds; llama-perplexity's from its log, "tokenizing the
input" to its final estimate: both leave the model load out).

Each pair is the tool, edgetui, the tool again (a drift of the machine's speed cancels); the pair's
ratio is edgetui / the mean of the two, and the tool's second run / its first gives the spread of
identical pairs; the median and the spread (min..max) of both are printed. --cpu-time compares
CPU time per repetition at one thread instead (the same work on both sides: a 64-token prompt and
64 decode steps), which a loaded machine does not blur. Both tools are built once, with the
wheel's flags (scripts/llama-wheel.sh: native, AMX off on x86_64), and cached under the user cache
dir keyed by version, flags and this CPU's instruction sets.

    .venv/bin/python benchmarks/llama_bench_parity.py [--pairs 8] [--threads 2] [--what decode,quality]
    .venv/bin/python benchmarks/llama_bench_parity.py --cpu-time [--pairs 3] [--cpu-reps 10]
    .venv/bin/python benchmarks/llama_bench_parity.py --build-only
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = ("llama-bench", "llama-perplexity")


def pinned_version() -> str:
    m = re.search(r'"llama-cpp-python==([^"]+)"', (REPO / "pyproject.toml").read_text())
    if not m:
        raise SystemExit("no llama-cpp-python==VERSION in pyproject.toml")
    return m.group(1)


def wheel_flags() -> str:
    """The C flags scripts/llama-wheel.sh builds the wheel with (EDGETUI_LLAMA_CFLAGS replaces them)."""
    default = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" if platform.machine() == "x86_64" else ""
    return os.environ.get("EDGETUI_LLAMA_CFLAGS", default)


def cpu_isa() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return ""


def tools_dir(version: str, flags: str) -> Path:
    from edgetui.models import cache_subdir

    key = hashlib.sha256("\n".join((version, platform.machine(), flags, cpu_isa())).encode()).hexdigest()[:16]
    return cache_subdir("tools") / f"llama.cpp-{version}-{key}"


def build_tools(version: str) -> Path:
    """llama-bench and llama-perplexity from the vendored llama.cpp, built once (-j2, only these
    two targets, static so the binaries stand alone); the directory that holds them."""
    flags = wheel_flags()
    dest = tools_dir(version, flags)
    if all((dest / t).is_file() for t in TOOLS):
        return dest
    part = dest.with_name(dest.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    print(f"building {', '.join(TOOLS)} from llama-cpp-python {version}'s llama.cpp (flags: {flags or 'none'}) "
          f"-> {dest}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    f"llama-cpp-python=={version}", "-d", str(part)], check=True)
    (sdist,) = part.glob("llama_cpp_python-*.tar.gz")  # only its vendored llama.cpp is kept
    top = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(top)]
        for m in members:
            m.name = m.name[len(top):]
        tar.extractall(part / "src", members=[m for m in members if m.name], filter="data")
    sdist.unlink()
    env = {**os.environ, "CFLAGS": f"{os.environ.get('CFLAGS', '')} {flags}".strip(),
           "CXXFLAGS": f"{os.environ.get('CXXFLAGS', '')} {flags}".strip()}
    log = part / "build.log"
    for step in (["cmake", "-S", str(part / "src"), "-B", str(part / "build"), "-DCMAKE_BUILD_TYPE=Release",
                  "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                  "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"],
                 ["cmake", "--build", str(part / "build"), "-j2", "--target", *TOOLS]):
        with log.open("a") as f:
            if subprocess.run(step, env=env, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
                raise SystemExit(f"{' '.join(step[:2])} failed; the end of {log}:\n"
                                 + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for t in TOOLS:
        shutil.copy2(part / "build" / "bin" / t, dest / t)
    shutil.rmtree(part)
    return dest


# edgetui's side of the decode pair: a profile as llama-bench's test (pp64 tg64 gives decode at
# positions 64..127, as -p 0 -n 64 -d 64 does), its repetitions and warm-up as llama-bench's
# defaults (-r 5, one warm-up), n_ctx 256 as llama-bench's context (128, padded by llama.cpp to 256)
PROFILE = """
name = "llama-bench-parity"
repetitions = {reps}
warmup = 1
idle_baseline_s = 0
[[models]]
name = "{model}"
[sweep]
n_threads = [{threads}]
n_ctx = [256]
[workload]
prompt_tokens = [64]
gen_tokens = 64
"""

# edgetui's side of the quality pair: the pass (edgetui.quality.passes.run_pass, what the engine's
# quality phase runs) on a model loaded as the engine loads it, against the reference's cached
# log-probabilities (made once before the pairs, not timed): tokens evaluated / the pass's seconds
QUALITY_CHILD = r"""
import ctypes, json, sys
import llama_cpp as L
from edgetui.quality.corpus import BUNDLED, BUNDLED_FILE, read_corpus, text_sha256
from edgetui.quality.passes import QualitySpec, run_pass
path, tokens, n_ctx, threads, cache, make_reference = sys.argv[1:7]
quiet = L.llama_log_callback(lambda *a: None)  # kept referenced: C holds the pointer
L.llama_log_set(quiet, ctypes.c_void_p(0))
L.llama_backend_init()
model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
spec = QualitySpec(corpus=BUNDLED, corpus_file=str(BUNDLED_FILE), corpus_sha256=text_sha256(read_corpus(BUNDLED)),
                   tokens=int(tokens), n_ctx=int(n_ctx), reference="source", reference_file=path,
                   reference_sha256="benchmark", reference_cache=cache)
r = run_pass(model, spec, int(threads), make_reference=make_reference == "1")
print(json.dumps({"tokens": r["tokens"], "s": r["t_end"] - r["t_start"], "ppl": r["ppl"]}))
"""


# edgetui's engine alone, without the runner around it (no sampler, no console, no child of a
# runner): the same configuration as the profile, LlamaCppEngine's own repetitions; tells what the
# decode loop costs apart from what the runner beside it costs
ENGINE_CHILD = r"""
import json, statistics, sys
from edgetui.engines.base import metrics
from edgetui.engines.llama_cpp import LlamaCppEngine
from edgetui.profiles.plan import Configuration
path, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gen = int(sys.argv[4]) if len(sys.argv) > 4 else 64
c = Configuration(profile="parity", engine="llama_cpp", engine_url=None, model="m", model_name=None, model_path=path,
                  n_threads=threads, n_gpu_layers=0, n_ctx=256, n_batch=512, flash_attn="auto", kv_cache_type="f16",
                  prompt_tokens=64, prompt=None, gen_tokens=gen, repetitions=reps, warmup=1)
e = LlamaCppEngine(c, path, lambda ev: None)
e.load()
runs = [e.run_once(c, i, i == 0) for i in range(reps + 1)][1:]
m = [metrics(r) for r in runs]
print(json.dumps({"tps": statistics.fmean(x["decode_tps"] for x in m),
                  "wall": statistics.fmean(x["decode_tps_wall"] for x in m),
                  "sample_ms": statistics.fmean(r.sample_ms / r.gen_tokens for r in runs)}))
"""


def run_checked(cmd: list[str], **kw) -> str:
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed ({p.returncode}):\n{(p.stderr or p.stdout)[-2000:]}")
    return p.stdout


def llama_bench(bin_dir: Path, model: Path, args) -> dict:
    out = run_checked([str(bin_dir / "llama-bench"), "-m", str(model), "-p", "0", "-n", "64", "-d", "64",
                       "-t", str(args.threads), "-r", str(args.reps), "-o", "json"])
    (test,) = json.loads(out)
    return {"tps": float(test["avg_ts"])}


def edgetui_decode(profile: Path, out: Path) -> dict:
    run_checked([sys.executable, "-m", "edgetui", "run", str(profile), "--headless", "--out", str(out)], cwd=REPO)
    with (out / "results.csv").open() as f:
        row = next(csv.DictReader(f))
    if row["status"] != "done":
        raise SystemExit(f"edgetui's run did not finish: {row['error']}")
    return {"tps": float(row["decode_tps_mean"]), "wall": float(row["decode_tps_wall_mean"]),
            "sample_ms": float(row["sample_ms_per_token_mean"])}


def edgetui_engine(model: Path, args) -> dict:
    out = run_checked([sys.executable, "-c", ENGINE_CHILD, str(model), str(args.threads), str(args.reps)], cwd=REPO)
    return json.loads(out.strip().splitlines()[-1])


LOG_TIME = r"(\d+)\.(\d+)\.(\d+)\.(\d+) I "  # llama.cpp's log prefix: minutes.seconds.ms.us since start


def log_seconds(log: str, text: str) -> float:
    m = re.search(LOG_TIME + re.escape(text), log)
    if not m:
        raise SystemExit(f"llama-perplexity's log lacks {text!r}:\n{log[-2000:]}")
    minutes, seconds, ms, us = map(int, m.groups())
    return 60 * minutes + seconds + ms / 1e3 + us / 1e6


def llama_perplexity(bin_dir: Path, model: Path, args) -> dict:
    """Tokens evaluated per second from llama-perplexity's own log times: from "tokenizing the
    input" to its final estimate (tokenizing, every chunk, its log-softmax; the model load and
    context left out, where edgetui's pass counts its own context)."""
    from edgetui.quality.corpus import BUNDLED_FILE

    cmd = [str(bin_dir / "llama-perplexity"), "-m", str(model), "-f", str(BUNDLED_FILE), "-c", str(args.n_ctx),
           "--chunks", str(args.tokens // args.n_ctx), "-t", str(args.threads)]
    if args.ppl_batch:
        cmd += ["-b", str(args.ppl_batch)]
    log = run_checked(cmd, stderr=subprocess.STDOUT)
    seconds = log_seconds(log, "Final estimate") - log_seconds(log, "perplexity: tokenizing the input")
    ppl = re.search(r"Final estimate: PPL = ([\d.]+)", log)
    assert ppl is not None
    n = (args.tokens // args.n_ctx) * args.n_ctx
    return {"tps": n / seconds, "ppl": float(ppl.group(1))}


def edgetui_quality(model: Path, cache: Path, args, *, make_reference: bool = False) -> dict:
    out = run_checked([sys.executable, "-c", QUALITY_CHILD, str(model), str(args.tokens), str(args.n_ctx),
                       str(args.threads), str(cache), "1" if make_reference else "0"], cwd=REPO)
    r = json.loads(out.strip().splitlines()[-1])
    return {"tps": r["tokens"] / r["s"], "ppl": r["ppl"]}


def cpu_seconds(cmd: list[str], **kw) -> float:
    """User + system CPU seconds of a command and every process under it that it waited for."""
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw) as p:
        try:
            _, status, usage = os.wait4(p.pid, 0)
        except BaseException:  # interrupted: the run goes with the benchmark
            p.kill()
            raise
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed ({p.returncode})")
    return usage.ru_utime + usage.ru_stime


def cpu_per_rep(run, few: int, many: int) -> float:
    """CPU ms per repetition: the CPU of `many` repetitions less that of `few`, over the repetitions
    between (load, warm-up and start-up cancel). With one thread nothing spins waiting for a
    sibling, so this is the work whatever else the machine runs, where a rate by the wall clock on
    a loaded machine is mostly the share of the cores it got."""
    return 1000 * (run(many) - run(few)) / (many - few)


def spread(name: str, ratios: list[float]) -> str:
    return (f"{name}: median {statistics.median(ratios):.3f}, spread {min(ratios):.3f}..{max(ratios):.3f} "
            f"over {len(ratios)} pairs")


def alternate(what: str, tool, ours, pairs: int, describe) -> None:
    """Each pair: the tool, edgetui, the tool again (edgetui between two of the tool's runs, so that
    a drift of the machine's speed cancels); edgetui / the mean of the two is the pair's ratio, and
    the tool's second run / its first is the ratio of an identical pair: the noise to judge by."""
    ratios, same = [], []
    for i in range(pairs):
        a, e, b = tool(), ours(i), tool()
        ratios.append(e["tps"] / statistics.fmean((a["tps"], b["tps"])))
        same.append(b["tps"] / a["tps"])
        print(f"{what} pair {i + 1}: tool {a['tps']:7.1f}, edgetui {e['tps']:7.1f}{describe(a, e)}, tool {b['tps']:7.1f}: "
              f"ratio {ratios[-1]:.3f} (tool/tool {same[-1]:.3f})", flush=True)
    print(spread(f"{what}: edgetui / tool", ratios))
    print(spread(f"{what}: tool / tool (identical pairs)", same))


def cpu_pairs(bin_dir: Path, model: Path, tmp: Path, args) -> None:
    """The same work on both sides: a 64-token prompt, then 64 decode steps (llama-bench -pg 64,64;
    edgetui 65 tokens, the first out of the prefill), by CPU time at one thread."""
    few, many = 2, 2 + args.cpu_reps
    bench = lambda r: cpu_seconds([str(bin_dir / "llama-bench"), "-m", str(model), "-p", "0", "-n", "0",  # noqa: E731
                                   "-pg", "64,64", "-t", "1", "-r", str(r)])
    profiles = {}
    for r in (few, many):
        profiles[r] = tmp / f"cpu{r}.toml"
        profiles[r].write_text(PROFILE.format(reps=r, model=args.model, threads=1).replace("gen_tokens = 64",
                                                                                           "gen_tokens = 65"))
    sides = {"engine": lambda r: cpu_seconds([sys.executable, "-c", ENGINE_CHILD, str(model), "1", str(r), "65"],
                                             cwd=REPO),
             "run": lambda r: cpu_seconds([sys.executable, "-m", "edgetui", "run", str(profiles[r]), "--headless",
                                           "--out", str(tmp / f"cpu-run-{r}-{time.monotonic_ns()}")], cwd=REPO)}
    ratios: dict[str, list[float]] = {k: [] for k in sides}
    same = []
    for i in range(args.pairs):
        a = cpu_per_rep(bench, few, many)
        ours = {k: cpu_per_rep(f, few, many) for k, f in sides.items()}
        b = cpu_per_rep(bench, few, many)
        tool = statistics.fmean((a, b))
        for k, v in ours.items():
            ratios[k].append(tool / v)
        same.append(a / b)
        print(f"cpu pair {i + 1}: llama-bench {a:.1f} and {b:.1f} CPU ms per repetition; edgetui engine "
              f"{ours['engine']:.1f}, edgetui run {ours['run']:.1f} (its runner and sampler included)", flush=True)
    for k in sides:
        print(spread(f"CPU per repetition, llama-bench / edgetui {k} (a speed ratio, 1 thread)", ratios[k]))
    print(spread("CPU per repetition, llama-bench / llama-bench (identical pairs)", same))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-only", action="store_true", help="build (or find) the tools, print where, stop")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5, help="repetitions per decode run (llama-bench -r)")
    ap.add_argument("--what", default="decode,quality", help="decode, quality or both")
    ap.add_argument("--decode-by", default="run", choices=("run", "engine"),
                    help="edgetui's side of the decode pair: `edgetui run --headless` (default), or its engine "
                         "alone in a process of its own (no runner, no sensor sampling)")
    ap.add_argument("--model", default="smollm2-135m-q4_1")
    ap.add_argument("--tokens", type=int, default=2048, help="quality: corpus tokens")
    ap.add_argument("--n-ctx", type=int, default=512, help="quality: window")
    ap.add_argument("--cpu-time", action="store_true",
                    help="decode compared by CPU time per token at one thread (robust to a loaded machine)")
    ap.add_argument("--cpu-reps", type=int, default=10, help="with --cpu-time: repetitions between the two runs")
    ap.add_argument("--ppl-batch", type=int, default=0, help="llama-perplexity -b (default: its own, 2048)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark takes its tool runs with it
    version = pinned_version()
    bin_dir = build_tools(version)
    print(f"tools: {bin_dir}")
    if args.build_only:
        return
    from edgetui import models

    model = models.fetch(args.model, progress=lambda s: None)
    print(f"llama-cpp-python {version}, {args.model}, {1 if args.cpu_time else args.threads} threads; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.cpu_time:
            cpu_pairs(bin_dir, model, tmp, args)
            return
        if "decode" in args.what:
            profile = tmp / "parity.toml"
            profile.write_text(PROFILE.format(reps=args.reps, model=args.model, threads=args.threads))
            ours = ((lambda i: edgetui_decode(profile, tmp / f"run{i}")) if args.decode_by == "run"
                    else (lambda i: edgetui_engine(model, args)))
            alternate(f"decode ({args.decode_by})", lambda: llama_bench(bin_dir, model, args), ours, args.pairs,
                      lambda a, e: f" (wall clock {e['wall']:.1f}, sampling {1000 * e['sample_ms']:.0f} us/token)")
        if "quality" in args.what:
            cache = tmp / "reference.npz"
            edgetui_quality(model, cache, args, make_reference=True)  # the reference's log-probabilities, once
            alternate("quality", lambda: llama_perplexity(bin_dir, model, args),
                      lambda i: edgetui_quality(model, cache, args), args.pairs,
                      lambda a, e: f" (ppl {e['ppl']:.4f}; the tool's {a['ppl']:.4f})")
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
