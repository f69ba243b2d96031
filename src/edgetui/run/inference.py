"""The inference child: one process per model load, driven by the runner.

Commands arrive as JSON lines on stdin; events leave as JSON lines on a pipe of
their own (stdout and stderr go to the configuration's log, where llama.cpp
writes). A crash or an out-of-memory kill of this process costs the runner one
configuration, never the queue.

    {"cmd": "load", "config": {...}, "model_path": "..."}
    {"cmd": "run", "config": {...}, "rep": 0, "warmup": true}
    {"cmd": "quality", "config": {...}, "spec": {...}, "make_reference": false}
    {"cmd": "reference", "config": {...}, "model_path": "...", "spec": {...}}
    {"cmd": "quit"}
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import sys
import threading
import traceback
from typing import Any

EVENTS_FD_ENV = "EDGETUI_EVENTS_FD"
LIFELINE_FD_ENV = "EDGETUI_LIFELINE_FD"  # as run.child names them (not imported: this process starts light)
PARENT_PID_ENV = "EDGETUI_PARENT_PID"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Never outlive the runner: on Linux the kernel sends SIGKILL when it dies (PR_SET_PDEATHSIG);
    everywhere, a thread waits on the lifeline pipe, whose end of file means the runner is gone
    (it also ends a child whose runner closed it on purpose). A child in the middle of a token
    computes nothing more for a runner that will never read it."""
    parent = int(os.environ.get(PARENT_PID_ENV) or 0)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the lifeline still holds
    if parent and os.getppid() != parent:  # the runner died before the line above: nobody to work for
        os._exit(1)
    fd = os.environ.get(LIFELINE_FD_ENV)
    if not fd:
        return

    def watch(fd: int) -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os._exit(1)

    threading.Thread(target=watch, args=(int(fd),), name="edgetui-lifeline", daemon=True).start()


def main() -> int:
    die_with_parent()
    fd = int(os.environ[EVENTS_FD_ENV])
    events = os.fdopen(fd, "w", buffering=1)

    def emit(ev: dict[str, Any]) -> None:
        events.write(json.dumps(ev, separators=(",", ":")) + "\n")

    from edgetui.engines.registry import engine_class
    from edgetui.profiles.plan import Configuration

    engine = None
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "quit":
                break
            config = Configuration.from_dict(cmd["config"])
            if cmd["cmd"] == "load":
                engine = engine_class(config.engine)(config, cmd.get("model_path"), emit)
                info = engine.load()
                emit({"ev": "loaded", "load_s": info.load_s, "t_start": info.t_start, "t_end": info.t_end,
                      "engine_version": info.engine_version, "info": info.info})
            elif cmd["cmd"] == "run":
                assert engine is not None, "run before load"
                result = engine.run_once(config, cmd["rep"], cmd["warmup"])
                emit({"ev": "result", "config_id": config.config_id, "rep": cmd["rep"],
                      "warmup": cmd["warmup"], "result": result.to_dict()})
            elif cmd["cmd"] == "quality":  # the quality pass of the loaded model (edgetui.quality)
                assert engine is not None, "quality before load"
                emit({"ev": "quality", "config_id": config.config_id,
                      "result": engine.quality(cmd["spec"], cmd["make_reference"])})
            elif cmd["cmd"] == "reference":  # another file's log-probabilities, kept for the divergence
                ref = engine_class(config.engine)(config, cmd["model_path"], emit)
                try:
                    ref.load()
                    ref_result = ref.quality(cmd["spec"], True)
                finally:
                    ref.close()
                emit({"ev": "reference", "config_id": config.config_id, "result": ref_result})
        except Exception as exc:  # reported to the runner as this configuration's failure
            print(traceback.format_exc(), file=sys.stderr, flush=True)
            emit({"ev": "error", "cmd": cmd.get("cmd"), "message": f"{type(exc).__name__}: {exc}"})
    if engine is not None:
        engine.close()
    events.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
