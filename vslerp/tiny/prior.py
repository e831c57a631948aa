"""The tiny ``PriorTransformer`` shared by the tiny Kandinsky 2.2 and Karlo backends.

One transformer layer, two heads of 16, embedding dim ``D`` = the tiny CLIP's, 77 text tokens
plus the 4 extra tokens of the unCLIP prior (projected text embedding, time step, noisy image
embedding, prediction token). Its ``clip_mean``/``clip_std`` parameters (``(1, D)``) hold the
per-dimension mean and standard deviation of the tiny image encoder's raw embeddings of
:func:`~vslerp.tiny.images.reference_images`, as the real priors hold their encoder's statistics.
"""

from __future__ import annotations

import torch
from diffusers import PriorTransformer

from vslerp.errors import InputError
from vslerp.tiny._common import check_flag, check_seed, seeded
from vslerp.tiny.clip import TinyClip, image_embedding_stats
from vslerp.tiny.tokenizer import TINY_TEXT_LENGTH

__all__ = ["build_tiny_prior"]


def build_tiny_prior(
    seed: int, clip: TinyClip, *, component: str, zero_clip_mean: bool = False
) -> PriorTransformer:
    """A tiny ``PriorTransformer`` (float32, eval mode) for ``clip``'s embedding space.

    Args:
        seed: weight seed; with ``component`` (e.g. ``"kandinsky22.prior"``) it picks the
            weights, so two backends built from one seed get different priors.
        clip: the tiny CLIP whose image statistics become ``clip_mean``/``clip_std``.
        component: name the weight seed is derived from.
        zero_clip_mean: set ``clip_mean`` to zeros instead (``clip_std`` unchanged).
    """
    check_seed(seed)
    check_flag(zero_clip_mean, "zero_clip_mean")
    if not isinstance(component, str) or not component:
        raise InputError("component", component, "expected a non-empty string")
    with seeded(seed, component):
        prior = PriorTransformer(
            num_attention_heads=2,
            attention_head_dim=16,
            num_layers=1,
            embedding_dim=clip.embed_dim,
            num_embeddings=TINY_TEXT_LENGTH,
            additional_embeddings=4,
            dropout=0.0,
        )
    mean, std = image_embedding_stats(clip)
    with torch.no_grad():
        prior.clip_mean.copy_(torch.zeros_like(mean) if zero_clip_mean else mean)
        prior.clip_std.copy_(std)
    return prior.float().eval()
