"""Tiny offline models: real diffusers/transformers classes with tiny configs and seeded weights.

Every path of vslerp runs offline with these: nothing is downloaded, weights are drawn from a
seed in code (the global torch RNG state is left untouched), and the ``save_*`` functions write
hub-layout folders that the libraries' own ``from_pretrained`` load (Karlo's component by
component, as with the published repositories; see :mod:`vslerp.tiny.karlo`), so real loading
code can be tested without network access.

- ``build_tiny_clip``: the ``tiny`` encoder, CLIP vision + text towers, D = 32, 32 px input;
- ``build_tiny_kandinsky22``: Kandinsky 2.2 prior + decoder (the ``tiny`` backend), 64 px;
- ``build_tiny_karlo``: Karlo image variations + text-to-image unCLIP, 64 px;
- ``build_tiny_stable_unclip``: stable unCLIP img2img, 32 px;
- ``generated_images``: deterministic procedurally generated RGB test images.

All backends share the tiny CLIP built from the same seed as their image encoder, so generator
outputs and the tiny evaluator live in one embedding space. Their image-modality statistics
(``clip_mean``/``clip_std``, ``image_normalizer.mean``/``std``) are computed from that encoder's
raw embeddings of :func:`reference_images`.

Names are imported lazily, so ``from vslerp.tiny import generated_images`` does not import
diffusers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vslerp.tiny.clip import (
        TinyClip,
        build_tiny_clip,
        image_embedding_stats,
        raw_image_embeds,
        save_tiny_clip,
    )
    from vslerp.tiny.images import generated_images, reference_images
    from vslerp.tiny.kandinsky import TinyKandinsky22, build_tiny_kandinsky22, save_tiny_kandinsky22
    from vslerp.tiny.karlo import TinyKarlo, build_tiny_karlo, save_tiny_karlo
    from vslerp.tiny.stable_unclip import (
        TinyStableUnclip,
        build_tiny_stable_unclip,
        save_tiny_stable_unclip,
    )
    from vslerp.tiny.tokenizer import build_tiny_tokenizer

_EXPORTS: dict[str, str] = {
    "TinyClip": "clip",
    "build_tiny_clip": "clip",
    "image_embedding_stats": "clip",
    "raw_image_embeds": "clip",
    "save_tiny_clip": "clip",
    "generated_images": "images",
    "reference_images": "images",
    "TinyKandinsky22": "kandinsky",
    "build_tiny_kandinsky22": "kandinsky",
    "save_tiny_kandinsky22": "kandinsky",
    "TinyKarlo": "karlo",
    "build_tiny_karlo": "karlo",
    "save_tiny_karlo": "karlo",
    "TinyStableUnclip": "stable_unclip",
    "build_tiny_stable_unclip": "stable_unclip",
    "save_tiny_stable_unclip": "stable_unclip",
    "build_tiny_tokenizer": "tokenizer",
}

__all__ = [
    "TinyClip",
    "TinyKandinsky22",
    "TinyKarlo",
    "TinyStableUnclip",
    "build_tiny_clip",
    "build_tiny_kandinsky22",
    "build_tiny_karlo",
    "build_tiny_stable_unclip",
    "build_tiny_tokenizer",
    "generated_images",
    "image_embedding_stats",
    "raw_image_embeds",
    "reference_images",
    "save_tiny_clip",
    "save_tiny_kandinsky22",
    "save_tiny_karlo",
    "save_tiny_stable_unclip",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
