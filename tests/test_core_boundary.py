"""The core never imports Textual or Rich: every module outside edgetui.tui is imported in a
fresh interpreter and the UI libraries must not appear in sys.modules."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys

import pytest

import edgetui

from conftest import REPO

CORE = sorted(
    m.name for m in pkgutil.walk_packages(edgetui.__path__, "edgetui.")
    if not m.name.startswith("edgetui.tui") and m.name != "edgetui.__main__"
)


def test_every_core_module_imports_without_textual():
    script = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "    leaked = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "    if leaked:\n"
        "        print(name, leaked); sys.exit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(CORE) > 15


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (REPO / ".venv/bin/lint-imports").exists(),
                    reason="import-linter not installed")
def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports") or str(REPO / ".venv/bin/lint-imports")
    proc = subprocess.run([exe], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_process_edgetui_starts_imports_this_edgetui_even_when_it_is_not_installed(tmp_path):
    """The detached runner, the inference child, the quantizer and the fleet controller are started
    with child_env(): with site-packages off (-S: no installed edgetui), edgetui must still import,
    from this checkout, and none of its subpackages may stand on the path as a top-level name."""
    import subprocess
    import sys

    from edgetui.childenv import PACKAGE_ROOT, child_env

    code = ("import importlib.util, edgetui; print(edgetui.__file__); "
            "print([n for n in ('run', 'fmt', 'stats', 'errors', 'models') if importlib.util.find_spec(n)])")
    out = subprocess.run([sys.executable, "-S", "-c", code], env=child_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    where, shadowed = out.stdout.splitlines()
    assert where.startswith(PACKAGE_ROOT) and where.endswith("edgetui/__init__.py")
    assert shadowed == "[]"
