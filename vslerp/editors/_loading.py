"""Loading editor components from the hub (or hub-layout folders) through :mod:`vslerp.hub`.

Every load goes through :func:`vslerp.hub.load_pretrained`, so a model that is neither cached
nor downloadable fails at once with a message naming it, the cache directory and
``--model tiny``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from vslerp.errors import InputError, ModelUnavailableError
from vslerp.hub import load_pretrained
from vslerp.means import ModalityMean

T = TypeVar("T")

OFFLINE_HINT = ("use --model tiny (load_editor('tiny')), the built-in offline backend with "
                "random weights, to try vslerp without downloads")
PRIOR_WEIGHTS = "diffusion_pytorch_model.safetensors"


def repo_arg(value: Any, name: str, default: str) -> str:
    """A repository id or local hub-layout folder for ``name`` (``None``: ``default``)."""
    if value is None:
        return default
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise InputError(name, value, "expected a hub repository id or a local folder")
    return str(value)


def transformers_dtype_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    """``dtype=`` for transformers >= 4.56 (where ``torch_dtype`` is deprecated), else
    ``torch_dtype=``."""
    import transformers
    from packaging.version import Version

    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: dtype}


def diffusers_dtype_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    """``dtype=`` for diffusers releases that take it (they deprecate ``torch_dtype``), else
    ``torch_dtype=``."""
    from diffusers.utils import deprecation_utils

    return {"dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype": dtype}


def hub_component(loader: Callable[..., T], repo: str, *, what: str, probe_file: str,
                  local_files_only: bool, subfolder: str | None = None,
                  revision: str | None = None, **kwargs: Any) -> T:
    """``loader(repo, subfolder=..., ...)`` (a ``from_pretrained``) with the fail-fast offline
    rules of :func:`vslerp.hub.load_pretrained`."""
    return load_pretrained(loader, repo, probe_file=probe_file, what=what, hint=OFFLINE_HINT,
                           local_files_only=local_files_only, revision=revision,
                           subfolder=subfolder, **kwargs)


def read_prior_stats(repo: str, *, what: str, local_files_only: bool,
                     revision: str | None = None) -> tuple[torch.Tensor | None,
                                                           torch.Tensor | None]:
    """``(clip_mean, clip_std)`` of a diffusion prior, read alone from
    ``prior/diffusion_pytorch_model.safetensors`` with ``safetensors.safe_open``.

    Only that file is fetched (``hf_hub_download``) and only those two tensors are read; the
    prior itself is not built. Missing tensors come back as ``None``.
    """
    from safetensors import safe_open

    local = Path(repo)
    if local.is_dir():
        path = local / "prior" / PRIOR_WEIGHTS
        if not path.is_file():
            raise ModelUnavailableError(f"cannot read the {what}: {path} does not exist")
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hub_component(hf_hub_download, repo, what=what, probe_file=PRIOR_WEIGHTS,
                                  subfolder="prior", revision=revision,
                                  local_files_only=local_files_only, filename=PRIOR_WEIGHTS))
    try:
        with safe_open(str(path), framework="pt") as fh:
            names = set(fh.keys())
            stats = tuple(fh.get_tensor(k).float() if k in names else None
                          for k in ("clip_mean", "clip_std"))
    except Exception as err:  # corrupt or truncated file
        raise ModelUnavailableError(f"cannot read the {what} from {path}: {err}") from err
    return stats[0], stats[1]


def place_pipeline(pipeline: Any, device: torch.device, dtype: torch.dtype,
                   cpu_offload: bool) -> Any:
    """Move a diffusers pipeline to ``device``/``dtype``, or cast it and turn on model CPU
    offload (``enable_model_cpu_offload``, CUDA only). Returns the pipeline."""
    if cpu_offload and device.type != "cuda":
        raise InputError("cpu_offload", True, "model CPU offload needs a CUDA device")
    if pipeline.dtype != dtype:  # (casting an already-cast pipeline only logs warnings)
        pipeline.to(dtype=dtype)
    if cpu_offload:
        pipeline.enable_model_cpu_offload(device=device)
        return pipeline
    return pipeline.to(device=device)


StatsFn = Callable[[], tuple[torch.Tensor | None, torch.Tensor | None]]


def mean_from_prior_stats(stats: StatsFn, *, encoder: str, source: str) -> ModalityMean:
    """The image mean held by a diffusion prior: ``clip_mean`` (with ``clip_std``) of
    ``stats()``. A missing, all-zero or non-finite ``clip_mean`` is refused with a message
    saying to pass ``mean=`` / ``--mean``."""
    clip_mean, clip_std = stats()
    advice = "pass mean= (--mean) a .safetensors mean or a folder of images"
    if clip_mean is None:
        raise InputError("mean", None, f"the prior of {source} holds no clip_mean; {advice}")
    try:
        return ModalityMean.from_clip_mean(clip_mean, encoder=encoder,
                                           source=f"clip_mean of {source}", clip_std=clip_std)
    except InputError as err:
        raise InputError("mean", None, f"refusing the clip_mean of {source}: {err.problem}; "
                                       f"{advice}") from err
