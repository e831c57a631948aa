"""Helpers shared by the tiny model builders: seeding, argument checks, directory saves.

Weights are drawn from a per-component seed derived from the user's seed and a component name,
inside :func:`torch.random.fork_rng`, so building a tiny model never changes the global torch
RNG state and each component's weights do not depend on the order components are built in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from vslerp.errors import InputError
from vslerp.fileio import write_directory_atomic, write_json_atomic

__all__ = [
    "check_directory",
    "check_flag",
    "check_seed",
    "component_seed",
    "prepare_pipeline",
    "save_pipeline",
    "seeded",
]

_MAX_SEED = 2**63 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """Validate a seed: a plain ``int`` in ``[0, 2**63)``. Returns it."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(name, seed, "expected a non-negative int")
    if not 0 <= seed <= _MAX_SEED:
        raise InputError(name, seed, f"expected 0 <= seed <= {_MAX_SEED}")
    return seed


def check_flag(value: Any, name: str) -> bool:
    """Validate a boolean flag (a real ``bool``, not 0/1 or a string). Returns it."""
    if not isinstance(value, bool):
        raise InputError(name, value, "expected True or False")
    return value


def component_seed(seed: int, component: str) -> int:
    """A stable 63-bit seed for ``component`` derived from ``seed`` (SHA-256, not ``hash()``)."""
    digest = hashlib.sha256(f"vslerp.tiny:{component}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & _MAX_SEED


@contextlib.contextmanager
def seeded(seed: int, component: str) -> Iterator[None]:
    """Run the block with the CPU torch RNG seeded for ``component``; restore it afterwards.

    Only the CPU generator is touched (models are built on the CPU), so CUDA RNG state is left
    alone as well.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(component_seed(seed, component))
        yield


def prepare_pipeline(pipeline: Any) -> Any:
    """Put every ``torch.nn.Module`` component of a diffusers pipeline in eval mode and turn its
    progress bar off. Returns the pipeline."""
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def check_directory(directory: Any, name: str = "directory") -> Path:
    """Validate a directory argument (str or path-like, not an existing file)."""
    if not isinstance(directory, (str, os.PathLike)) or str(directory) == "":
        raise InputError(name, directory, "expected a directory path (str or os.PathLike)")
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise InputError(name, directory, "exists and is not a directory")
    return path


def save_pipeline(
    pipeline: Any, target: Path, *, model_index: dict[str, list[str]] | None = None
) -> Path:
    """Write a diffusers pipeline to ``target`` in the hub layout (``model_index.json`` and one
    folder per component, safetensors weights), atomically
    (:func:`vslerp.fileio.write_directory_atomic`).

    Tokenizer folders also get ``vocab.json``/``merges.txt`` (see
    :func:`vslerp.tiny.tokenizer.save_tiny_tokenizer`). ``model_index`` replaces entries of
    ``model_index.json`` (component name -> ``[library, class]``), to mirror what a published
    repository declares where the installed diffusers would write something else.
    """
    from transformers import PreTrainedTokenizerBase

    from vslerp.tiny.tokenizer import save_tiny_tokenizer

    def write(folder: Path) -> None:
        pipeline.save_pretrained(folder, safe_serialization=True)
        for name, component in pipeline.components.items():
            if isinstance(component, PreTrainedTokenizerBase):
                save_tiny_tokenizer(component, folder / name)
        if model_index:
            index_path = folder / "model_index.json"
            index = json.loads(index_path.read_text(encoding="utf-8"))
            for name, entry in model_index.items():
                if name not in index:
                    raise InputError("model_index", model_index, f"{name!r} is not a component")
                index[name] = list(entry)
            write_json_atomic(index_path, index)

    return write_directory_atomic(target, write)
