"""The app's own output folder: one generated sub-folder per run, old runs pruned.

This folder is the only one the web server may serve files from (``allowed_paths``). Run folders
are named ``<kind>-<UTC time>-<random>``; nothing in a name comes from a user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from vslerp.errors import InputError
from vslerp.fileio import atomic_write

__all__ = ["OutputFolder", "zip_folder"]

_KINDS = ("grid", "conformity", "rank", "endpoint")


class OutputFolder:
    """Creates run folders under ``root`` and keeps the newest ``keep`` of them.

    Args:
        root: the folder (created); ``None`` makes a fresh temporary one.
        keep: run folders kept; older ones are deleted when a new one is made.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, keep: int = 100) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise InputError("keep", keep, "expected a positive int")
        if root is None:
            root = tempfile.mkdtemp(prefix="vslerp-ui-")
        path = Path(root).expanduser()
        if path.exists() and not path.is_dir():
            raise InputError("output_dir", str(path), "exists and is not a folder")
        path.mkdir(parents=True, exist_ok=True)
        self.root = path.resolve()
        self.keep = keep
        self._lock = threading.Lock()

    def new_run(self, kind: str) -> Path:
        """A new, empty run folder for ``kind`` (``grid``, ``conformity``, ``rank``,
        ``endpoint``)."""
        if kind not in _KINDS:
            raise InputError("kind", kind, f"expected one of {', '.join(_KINDS)}")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        with self._lock:
            run = self.root / f"{kind}-{stamp}-{secrets.token_hex(4)}"
            run.mkdir()
            self._prune()
        return run

    def _prune(self) -> None:
        runs = sorted((p for p in self.root.iterdir() if p.is_dir()),
                      key=lambda p: p.stat().st_mtime_ns)
        for old in runs[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def zip_folder(folder: Path, target: Path) -> Path:
    """Zip every file under ``folder`` (paths relative to it) into ``target``, atomically."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with atomic_write(target, "wb") as fh, \
            zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=path.relative_to(folder).as_posix())
    return target
