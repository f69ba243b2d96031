"""User key remapping: binding id -> key, from a TOML file in the user config folder."""

from __future__ import annotations

import os
from pathlib import Path

KEYMAP_FILE = "keymap.toml"  # in the user config folder: binding id = "key", e.g. "queue.run" = "R"


def keymap_path() -> Path:
    import platformdirs

    return Path(os.environ.get("EDGETUI_KEYMAP") or Path(platformdirs.user_config_dir("edgetui")) / KEYMAP_FILE)


def load_keymap(path: Path) -> tuple[dict[str, str], str | None]:
    """The user's key remapping (binding id -> key), or the reason it is not used."""
    from edgetui.tomlread import tomllib

    if not path.exists():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}"
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        return {}, f"{path}: {', '.join(bad)}: expected a key as a string, e.g. \"queue.run\" = \"R\""
    return dict(data), None
