"""Atomic file writes and safe loading of embedding arrays.

Everything vslerp writes goes through :func:`atomic_write`: the bytes land in a temporary
file in the destination directory, are flushed and fsync'd, then renamed over the target, so a
killed process leaves either the old file or the new one, never half of one.

Embeddings are read from ``.npy`` (``allow_pickle=False``), ``.npz`` (``allow_pickle=False``)
or ``.safetensors``; nothing here unpickles user files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from vslerp.errors import InputError

__all__ = [
    "EMBEDDING_SUFFIXES",
    "atomic_write",
    "check_embeddings",
    "load_embeddings",
    "save_embeddings",
    "write_bytes_atomic",
    "write_directory_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

EMBEDDING_SUFFIXES = (".npy", ".npz", ".safetensors")
_DEFAULT_KEY = "embeddings"


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8, ``\\n`` newlines). Parent directories are
    created. On an exception the temporary file is removed and ``path`` is untouched.
    """
    if mode not in ("wb", "w"):
        raise InputError("mode", mode, "expected 'wb' or 'w'")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600 files; give the result the mode a plain open() would (umask).
        os.fchmod(fd, 0o666 & ~_umask())
        if mode == "w":
            handle: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        else:
            handle = os.fdopen(fd, "wb")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (UTF-8, sorted keys off, NaN refused) to ``path`` atomically."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def _pick(arrays: dict[str, np.ndarray], path: Path, key: str | None) -> np.ndarray:
    if key is not None:
        if key not in arrays:
            raise InputError("key", key, f"not in {path.name}; it holds {sorted(arrays)}")
        return arrays[key]
    if _DEFAULT_KEY in arrays:
        return arrays[_DEFAULT_KEY]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise InputError(
        "path", str(path),
        f"holds several arrays {sorted(arrays)}; name one with key= (or store it as "
        f"'{_DEFAULT_KEY}')",
    )


def load_embeddings(
    path: str | os.PathLike[str], *, key: str | None = None, dim: int | None = None
) -> np.ndarray:
    """Load an ``(N, D)`` embedding matrix from ``.npy``, ``.npz`` or ``.safetensors``.

    Args:
        path: the file. ``.npz``/``.safetensors`` files may hold several arrays: ``key`` picks
            one; otherwise the array named ``"embeddings"``, or the only array, is used.
        key: array name inside ``.npz``/``.safetensors``.
        dim: when given, ``D`` must equal it.

    Returns:
        ``(N, D)`` float32 array (float64 inputs are kept float64), ``N >= 1``.

    Raises:
        InputError: unknown suffix, unreadable file, pickled object arrays, wrong rank or
            dimension, non-numeric dtype, or non-finite rows (the first offending rows named).
        FileNotFoundError: the file does not exist.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"embeddings file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise InputError("path", str(p), f"unsupported embeddings format; use one of "
                                          f"{', '.join(EMBEDDING_SUFFIXES)}")
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                arr = _pick({k: z[k] for k in z.files}, p, key)
        else:
            from safetensors.numpy import load_file

            arr = _pick(load_file(str(p)), p, key)
    except InputError:
        raise
    except Exception as err:  # corrupt file, pickled objects, wrong magic ...
        raise InputError("path", str(p), f"cannot read embeddings: {err}") from err
    return check_embeddings(arr, name=f"embeddings in {p.name}", dim=dim)


def check_embeddings(arr: Any, *, name: str = "X", dim: int | None = None) -> np.ndarray:
    """Validate an ``(N, D)`` numeric matrix; returns it as float32 (float64 kept).

    Raises :class:`InputError` naming ``name`` for a wrong rank, an empty matrix, a
    non-numeric dtype, a dimension other than ``dim``, or NaN/Inf rows.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise InputError(name, arr, "expected a numeric (float) array")
    if arr.ndim != 2:
        raise InputError(name, arr, "expected a 2-D (N, D) matrix")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(name, arr, "is empty")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(name, arr, f"expected dimension D={dim}, got {arr.shape[1]}")
    if arr.dtype != np.float64:
        arr = arr.astype(np.float32, copy=False)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        shown = ", ".join(str(i) for i in bad[:5]) + (" ..." if bad.size > 5 else "")
        raise InputError(name, arr, f"{bad.size} row(s) contain NaN/Inf (rows {shown})")
    return arr


def save_embeddings(path: str | os.PathLike[str], arr: np.ndarray,
                    metadata: dict[str, str] | None = None) -> Path:
    """Write an ``(N, D)`` matrix atomically as ``.npy`` or ``.safetensors`` (key ``embeddings``,
    with string ``metadata``). Returns the path."""
    p = Path(path)
    arr = np.ascontiguousarray(arr)
    if p.suffix.lower() == ".npy":
        with atomic_write(p, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    elif p.suffix.lower() == ".safetensors":
        from safetensors.numpy import save

        write_bytes_atomic(p, save({_DEFAULT_KEY: arr}, metadata=metadata))
    else:
        raise InputError("path", str(p), "expected a .npy or .safetensors file name")
    return p


def write_directory_atomic(target: Path, write: Callable[[Path], None]) -> Path:
    """Fill ``target`` with ``write(tmp)`` atomically at directory level.

    ``write`` fills a fresh temporary directory next to ``target``; it is then renamed into
    place. An existing ``target`` is replaced (moved aside, swapped, then deleted), so readers
    see either the old complete directory or the new complete one, never a half-written one.
    On an exception nothing at ``target`` changes.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                        dir=target.parent))
            moved = old / target.name
            os.replace(target, moved)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(moved, target)  # put the old directory back
                shutil.rmtree(old, ignore_errors=True)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
