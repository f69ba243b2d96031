"""What a board has, asked on the board itself: run there by Ansible's `script` module with the
board's own Python 3 (3.7 or later), before edgetui may exist there, so it uses the standard
library only and nothing newer.

One argument, a JSON object: {"python": PATH or null, "dir": PATH, "env": {NAME: VALUE},
"sensors": true/false}. Prints one JSON object: the interpreter running the probe, the edgetui
folder and Python resolved on the board (a "~" is the board user's home), whether that Python
exists and which edgetui it holds, the free disk there, the CPU architecture, whether
llama-cpp-python is there or would be compiled by pip (and whether a C/C++ compiler and cmake
are there to do it), and `edgetui sensors --json` when asked.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

VERSION_SNIPPET = "import edgetui, sys; print(edgetui.__version__); print('.'.join(map(str, sys.version_info[:3])))"
LLAMA_SNIPPET = "import llama_cpp; print(llama_cpp.__version__)"
COMPILERS = ("c++", "g++", "clang++")
SENSORS_TIMEOUT_S = 60


def _last_line(text: str | None) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _free_bytes(path: str) -> int | None:
    """Free space on the file system that holds path (or would: its nearest existing folder)."""
    p = path
    while p and not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    try:
        return shutil.disk_usage(p or "/").free
    except OSError:
        return None


def _python_version(python: str, env: dict[str, str]) -> str | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                             capture_output=True, env=env, timeout=30, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def probe(request: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    folder = os.path.abspath(os.path.expanduser(request.get("dir") or "~/edgetui"))
    default_python = os.path.join(folder, "venv", "bin", "python")
    python = os.path.abspath(os.path.expanduser(request.get("python") or default_python))
    report = {
        "probe_python": sys.executable,
        "probe_python_version": "{}.{}.{}".format(*sys.version_info[:3]),
        "home": os.path.expanduser("~"),
        "dir": folder,
        "python": python,
        "python_is_default": python == default_python,
        "python_exists": os.path.isfile(python) and os.access(python, os.X_OK),
        "python_version": None,
        "edgetui_version": None,
        "edgetui_error": None,
        "free_bytes": _free_bytes(folder),
        "sensors": None,
        "sensors_error": None,
        "machine": platform.machine(),
        "llama_cpp_version": None,
        "compiler": next((c for c in COMPILERS if shutil.which(c)), None),
        "cmake": shutil.which("cmake") is not None,
    }
    if not report["python_exists"]:
        report["edgetui_error"] = f"no Python at {python}"
        return report
    try:
        out = subprocess.run([python, "-c", VERSION_SNIPPET], capture_output=True, env=env,
                             timeout=60, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        report["edgetui_error"] = f"could not run {python}: {exc}"
        return report
    if out.returncode == 0:
        lines = out.stdout.strip().splitlines()
        report["edgetui_version"] = lines[0].strip() if lines else None
        report["python_version"] = lines[1].strip() if len(lines) > 1 else None
    else:
        report["python_version"] = _python_version(python, env)
        report["edgetui_error"] = _last_line(out.stderr) or f"exit code {out.returncode}"
    try:
        out = subprocess.run([python, "-c", LLAMA_SNIPPET], capture_output=True, env=env, timeout=60, text=True)
        if out.returncode == 0:
            report["llama_cpp_version"] = _last_line(out.stdout) or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    if request.get("sensors") and report["edgetui_version"]:
        try:
            out = subprocess.run([python, "-m", "edgetui", "sensors", "--json"], capture_output=True,
                                 env=env, timeout=SENSORS_TIMEOUT_S, text=True)
            if out.returncode == 0:
                report["sensors"] = json.loads(out.stdout)
            else:
                report["sensors_error"] = _last_line(out.stderr) or f"exit code {out.returncode}"
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            report["sensors_error"] = str(exc)
    return report


def main(argv: list[str]) -> int:
    request = json.loads(argv[1]) if len(argv) > 1 else {}
    print(json.dumps(probe(request)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
