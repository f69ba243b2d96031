"""The one way every export is written (`rank --export`, `plot --out`, `export --out`, the
results screen's export): to the file the user named, atomically, never through a symbolic link.

A link at the name, even one pointing nowhere yet, is refused: writing through it would put the
export wherever the link points (another user's link in a shared folder, say) instead of at the
name given. The file is written beside its name and renamed over it (rundir.store.atomic_write_with):
a rename replaces a link rather than following it, so a link made between the check and the
write is replaced, not written through, and a failed write leaves the old file as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from edgetui.errors import UserError
from edgetui.rundir.store import atomic_write_with


def check_target(path: str | Path, *, force: bool) -> Path:
    """The export's file, refused before anything is computed: a symbolic link, a folder, an
    existing file without force, a folder that does not exist."""
    p = Path(path)
    if p.is_symlink():
        raise UserError("is a symbolic link: an export is written only to a plain file of that name "
                        "(remove the link, or name the file it points to)", where=str(p))
    if p.is_dir():
        raise UserError("is a folder, not a file; give a file name", where=str(p))
    if p.exists() and not force:
        raise UserError("file exists; use --force to overwrite it", where=str(p))
    if not p.parent.is_dir():
        raise UserError(f"no folder {p.parent} to write into", where=str(p))
    return p


def write_export(path: str | Path, write: Callable[[BinaryIO], object], *, force: bool) -> Path:
    """check_target, then write(file) into a new file renamed over the name; an OSError
    (no space, no permission) becomes a UserError naming the file."""
    p = check_target(path, force=force)
    try:
        atomic_write_with(p, write)
    except OSError as exc:
        raise UserError(f"cannot write the file: {exc.strerror or exc}", where=str(p)) from None
    return p


def write_export_text(path: str | Path, text: str, *, force: bool) -> Path:
    return write_export(path, lambda f: f.write(text.encode("utf-8")), force=force)
