"""Loading weights from the Hugging Face hub the standard way, failing fast and clearly offline.

Models are loaded with their library's own ``from_pretrained`` and the shared hub cache. Before
a download is attempted this module decides, in well under a second, whether the hub can be
reached; when it cannot, a model that is in the cache is loaded with ``local_files_only=True``
and one that is not fails at once with :class:`~vslerp.errors.ModelUnavailableError` naming the
model, the cache directory and the offline alternative (instead of minutes of retries).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from vslerp.errors import ModelUnavailableError

__all__ = [
    "hub_cache_dir",
    "hub_reachable",
    "is_cached",
    "load_pretrained",
    "offline_requested",
    "resolve_local_files_only",
]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}


def offline_requested() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for offline mode."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_dir() -> Path:
    """The hub cache directory in use (``HF_HUB_CACHE`` / ``HF_HOME`` aware)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


@functools.lru_cache(maxsize=4)
def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the hub endpoint (``HF_ENDPOINT``, default huggingface.co) accepts a TCP
    connection within ``timeout`` seconds. False in offline mode. Cached per process."""
    if offline_requested():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    return _reachable(host, port, timeout)


def is_cached(repo_id: str, filename: str, *, revision: str | None = None,
              subfolder: str | None = None) -> bool:
    """Whether ``filename`` of ``repo_id`` (at ``revision``) is in the local hub cache.

    A local directory ``repo_id`` counts as cached when the file exists in it.
    """
    local = Path(repo_id)
    if local.is_dir():
        return (local / (subfolder or "") / filename).is_file()
    from huggingface_hub import try_to_load_from_cache

    name = f"{subfolder}/{filename}" if subfolder else filename
    found = try_to_load_from_cache(repo_id, name, revision=revision)
    return isinstance(found, str)


def resolve_local_files_only(
    repo_id: str,
    *,
    probe_file: str,
    what: str,
    hint: str,
    local_files_only: bool = False,
    revision: str | None = None,
    subfolder: str | None = None,
) -> bool:
    """Decide the ``local_files_only`` flag for loading ``repo_id``, or fail fast.

    Returns True (load from cache only) when asked for, when offline mode is set, or when the
    hub is unreachable but ``probe_file`` is cached; False when the hub can be reached.

    Raises:
        ModelUnavailableError: the model is not cached and cannot be downloaded; the message
            names ``what``, ``repo_id``, the cache directory and ``hint``.
    """
    if Path(repo_id).is_dir():
        return True
    cached = is_cached(repo_id, probe_file, revision=revision, subfolder=subfolder)
    if local_files_only or offline_requested():
        if not cached:
            raise ModelUnavailableError(
                f"cannot load {what} '{repo_id}': offline mode is on and it is not in the "
                f"Hugging Face cache at {hub_cache_dir()}. Download it once with network "
                f"access (or point HF_HOME at a cache that has it), or {hint}."
            )
        return True
    if hub_reachable():
        return False
    if cached:
        return True
    raise ModelUnavailableError(
        f"cannot load {what} '{repo_id}': the Hugging Face hub is unreachable and it is not in "
        f"the cache at {hub_cache_dir()}. Connect to the network once to download it (or point "
        f"HF_HOME at a cache that has it), or {hint}."
    )


def load_pretrained(
    loader: Callable[..., T],
    repo_id: str,
    *,
    probe_file: str,
    what: str,
    hint: str,
    local_files_only: bool = False,
    revision: str | None = None,
    subfolder: str | None = None,
    **kwargs: object,
) -> T:
    """Call ``loader(repo_id, local_files_only=..., revision=..., **kwargs)`` (a
    ``from_pretrained``), deciding the offline flag with :func:`resolve_local_files_only` and
    turning loader failures into :class:`ModelUnavailableError` with the same clear message."""
    offline = resolve_local_files_only(
        repo_id, probe_file=probe_file, what=what, hint=hint,
        local_files_only=local_files_only, revision=revision, subfolder=subfolder,
    )
    if subfolder is not None:
        kwargs["subfolder"] = subfolder
    try:
        return loader(repo_id, local_files_only=offline, revision=revision, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(
            f"cannot load {what} '{repo_id}' (revision {revision or 'main'}): {err}. "
            f"Cache: {hub_cache_dir()}. Alternatively, {hint}."
        ) from err
