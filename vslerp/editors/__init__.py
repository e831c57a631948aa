"""Generative editing backends: one :class:`Editor` contract for unCLIP-family decoders.

==========================  ================================================================
``kandinsky-2.2``           kandinsky-community/kandinsky-2-2-prior + -decoder (D = 1280);
                            mean: the prior's ``clip_mean``; prompts: the prior
``karlo``                   kakaobrain/karlo-v1-alpha-image-variations (D = 768); mean:
                            ``clip_mean`` of kakaobrain/karlo-v1-alpha's prior; prompts: it
``stable-unclip``           stabilityai/stable-diffusion-2-1-unclip (D = 1024); mean:
                            ``image_normalizer.mean`` when non-trivial, else ``mean=``
``stable-unclip-small``     stabilityai/stable-diffusion-2-1-unclip-small (D = 768); as above
``tiny``                    the tiny random-weight Kandinsky 2.2 of :mod:`vslerp.tiny`, fully
                            offline, the same code as ``kandinsky-2.2``
==========================  ================================================================

Example::

    editor = load_editor("tiny")
    v = editor.embed_images(["a.png", "b.png"])
    images = editor.decode(v, seed=0, steps=25)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vslerp.editors.base import (
    BaseEditor,
    Editor,
    EditorOutput,
    MeanSpec,
    ProgressFn,
    resolve_device,
    resolve_dtype,
    resolve_mean,
)
from vslerp.errors import InputError

if TYPE_CHECKING:
    import os

    import torch

__all__ = [
    "EDITORS",
    "BaseEditor",
    "Editor",
    "EditorOutput",
    "MeanSpec",
    "ProgressFn",
    "load_editor",
    "resolve_device",
    "resolve_dtype",
    "resolve_mean",
]

EDITORS: dict[str, str] = {
    "kandinsky-2.2": "Kandinsky 2.2 prior + decoder (kandinsky-community)",
    "karlo": "Karlo v1 alpha image variations (kakaobrain)",
    "stable-unclip": "Stable Diffusion 2.1 unCLIP, ViT-H/14 (stabilityai)",
    "stable-unclip-small": "Stable Diffusion 2.1 unCLIP small, ViT-L/14 (stabilityai)",
    "tiny": "tiny random-weight Kandinsky 2.2, offline (for tests and trying things out)",
}
"""Known backend ids and what they are."""


def load_editor(
    name: str,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    mean: MeanSpec = None,
    cpu_offload: bool = False,
    decoder: str | os.PathLike[str] | None = None,
    prior: str | os.PathLike[str] | None = None,
) -> Editor:
    """Load a generative-editing backend.

    Args:
        name: one of :data:`EDITORS`.
        device: ``"cuda"``, ``"cpu"``, ...; default CUDA when available.
        dtype: default float16 on CUDA, float32 elsewhere.
        revision: hub revision (branch, tag or commit) of the decoder repository.
        local_files_only: never touch the network (also implied by ``HF_HUB_OFFLINE=1``).
        mean: replaces the backend's image mean: a ``ModalityMean``, a ``.safetensors`` mean
            file, a folder of images (their mean, embedded by this editor on first use) or a
            ``(D,)`` array.
        cpu_offload: ``enable_model_cpu_offload()`` on the pipelines (CUDA only).
        decoder, prior: replace the backend's decoder / prior repository with another hub id or
            a local folder in the hub layout (e.g. from :func:`vslerp.tiny.save_tiny_kandinsky22`,
            which makes ``load_editor("kandinsky-2.2", prior=..., decoder=...)`` run the real
            loading code offline). Not accepted by ``tiny``.

    Raises:
        InputError: unknown ``name`` (the message lists the known ids) or a bad argument.
        ModelUnavailableError: weights neither cached nor downloadable (names the model, the
            cache directory and ``--model tiny``).
    """
    if not isinstance(name, str) or name not in EDITORS:
        raise InputError("model", name, f"unknown model; known: {', '.join(EDITORS)}")
    if not isinstance(local_files_only, bool):
        raise InputError("local_files_only", local_files_only, "expected True or False")
    if not isinstance(cpu_offload, bool):
        raise InputError("cpu_offload", cpu_offload, "expected True or False")
    if revision is not None and (not isinstance(revision, str) or not revision.strip()):
        raise InputError("revision", revision, "expected a branch, tag or commit string")
    dev = resolve_device(device)
    kwargs: dict[str, Any] = {"device": dev, "dtype": resolve_dtype(dtype, dev), "mean": mean,
                              "cpu_offload": cpu_offload}
    if name == "tiny":
        for arg, value in (("decoder", decoder), ("prior", prior), ("revision", revision)):
            if value is not None:
                raise InputError(arg, value, "the tiny backend is built in code; it takes no "
                                             f"{arg}")
        from vslerp.editors.kandinsky import load_tiny

        return load_tiny(**kwargs)
    kwargs.update(revision=revision, local_files_only=local_files_only, decoder=decoder,
                  prior=prior)
    if name == "kandinsky-2.2":
        from vslerp.editors.kandinsky import load_kandinsky22

        return load_kandinsky22(**kwargs)
    if name == "karlo":
        from vslerp.editors.karlo import load_karlo

        return load_karlo(**kwargs)
    from vslerp.editors.stable_unclip import load_stable_unclip

    return load_stable_unclip(small=name == "stable-unclip-small", **kwargs)

