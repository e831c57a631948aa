"""Tiny Karlo (unCLIP): real diffusers ``UnCLIPImageVariationPipeline`` and ``UnCLIPPipeline``.

Both pipelines share one set of tiny components, as kakaobrain/karlo-v1-alpha and
kakaobrain/karlo-v1-alpha-image-variations share theirs: the tiny CLIP (text encoder, tokenizer,
and for image variations the image encoder and feature extractor), a 32 x 32 pixel-space decoder
``UNet2DConditionModel`` (simple cross-attention, class embedding ``identity`` fed by the
``UnCLIPTextProjModel``, learned variance), two 64 x 64 super-resolution ``UNet2DModel``s
(first steps / last step, no attention, like Karlo's) and ``UnCLIPScheduler``s configured like
Karlo's (decoder: learned range, epsilon; super resolution: fixed small log, epsilon; prior:
fixed small log, sample, clip range 5). The text-to-image pipeline adds a tiny
``PriorTransformer`` whose ``clip_mean``/``clip_std`` are the tiny image encoder's raw-embedding
statistics over :func:`~vslerp.tiny.images.reference_images`.

:func:`save_tiny_karlo` writes both in the hub layout. The text-to-image folder mirrors
karlo-v1-alpha: ``model_index.json`` and ``decoder``, ``decoder_scheduler``, ``prior``,
``prior_scheduler``, ``super_res_first``, ``super_res_last``, ``super_res_scheduler``,
``text_encoder``, ``text_proj``, ``tokenizer``; ``prior/`` holds ``config.json`` and
``diffusion_pytorch_model.safetensors`` whose ``clip_mean`` and ``clip_std`` tensors have shape
``(1, D)`` and can be read alone with ``safetensors.safe_open``. Both ``model_index.json`` files
declare ``text_proj`` as the published repositories do (see
:data:`KARLO_MODEL_INDEX_OVERRIDES`). The image-variations folder
mirrors karlo-v1-alpha-image-variations (``decoder``, ``decoder_scheduler``,
``feature_extractor``, ``image_encoder``, ``super_res_first``, ``super_res_last``,
``super_res_scheduler``, ``text_encoder``, ``text_proj``, ``tokenizer``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffusers import (
    UnCLIPImageVariationPipeline,
    UnCLIPPipeline,
    UnCLIPScheduler,
    UNet2DConditionModel,
    UNet2DModel,
)

from vslerp.tiny._common import check_directory, check_seed, prepare_pipeline, save_pipeline, seeded
from vslerp.tiny.clip import TinyClip, build_tiny_clip
from vslerp.tiny.prior import build_tiny_prior

try:  # diffusers >= 0.34 moved unCLIP under pipelines/deprecated
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
except ImportError:  # pragma: no cover - older diffusers
    from diffusers.pipelines.unclip.text_proj import UnCLIPTextProjModel  # type: ignore[no-redef]

__all__ = [
    "KARLO_DECODER_SCHEDULER_CONFIG",
    "KARLO_MODEL_INDEX_OVERRIDES",
    "KARLO_PRIOR_SCHEDULER_CONFIG",
    "KARLO_SUPER_RES_SCHEDULER_CONFIG",
    "TINY_KARLO_DECODER_SIZE",
    "TINY_KARLO_IMAGE_SIZE",
    "TinyKarlo",
    "UnCLIPTextProjModel",
    "build_tiny_karlo",
    "save_tiny_karlo",
]

#: Side length of the tiny decoder's output and of the super-resolution output, in pixels.
TINY_KARLO_DECODER_SIZE = 32
TINY_KARLO_IMAGE_SIZE = 64

#: Karlo's schedulers (from diffusers' Karlo conversion script).
KARLO_PRIOR_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "variance_type": "fixed_small_log",
    "prediction_type": "sample", "clip_sample_range": 5.0,
}
KARLO_DECODER_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "variance_type": "learned_range", "prediction_type": "epsilon",
}
KARLO_SUPER_RES_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "variance_type": "fixed_small_log", "prediction_type": "epsilon",
}

#: What the published Karlo repositories' ``model_index.json`` declare for ``text_proj``: they were
#: converted when unCLIP lived in ``diffusers.pipelines.unclip``. diffusers 0.42 would itself
#: write ``["diffusers", ...]``, and resolves neither form (``"unclip"`` is refused even when
#: ``text_proj=`` is passed to ``from_pretrained``), so a loader has to build the pipeline from
#: components loaded one by one (``UnCLIPTextProjModel.from_pretrained(repo,
#: subfolder="text_proj")`` and so on). The tiny folders mirror the published declaration so
#: that such loading code is tested against the real layout.
KARLO_MODEL_INDEX_OVERRIDES: dict[str, list[str]] = {
    "text_proj": ["unclip", "UnCLIPTextProjModel"],
}

_BLOCKS = (32, 64)
_TIME_EMBED_DIM = _BLOCKS[0] * 4
_CROSS_ATTENTION_DIM = 64


@dataclass(frozen=True, eq=False)
class TinyKarlo:
    """The tiny Karlo backend.

    Attributes:
        variations: ``variations(image=..., image_embeddings=(B, D), decoder_latents=(B, 3, 32,
            32), super_res_latents=(B, 3, 64, 64), ...)`` -> 64 x 64 images.
        unclip: the text-to-image pipeline; ``unclip.prior.clip_mean`` is ``(1, D)`` float32.
        clip: the tiny CLIP (``variations.image_encoder is clip.vision``).
        embed_dim: ``D`` (32).
        seed: the seed the weights were drawn with.
    """

    variations: UnCLIPImageVariationPipeline
    unclip: UnCLIPPipeline
    clip: TinyClip
    embed_dim: int
    seed: int


def _decoder(seed: int) -> UNet2DConditionModel:
    with seeded(seed, "karlo.decoder"):
        return UNet2DConditionModel(
            sample_size=TINY_KARLO_DECODER_SIZE,
            in_channels=3,
            out_channels=6,  # RGB noise and learned variance
            down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
            up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
            mid_block_type="UNetMidBlock2DSimpleCrossAttn",
            block_out_channels=_BLOCKS,
            layers_per_block=1,
            cross_attention_dim=_CROSS_ATTENTION_DIM,
            attention_head_dim=4,
            resnet_time_scale_shift="scale_shift",
            class_embed_type="identity",
        )


def _text_proj(seed: int, embed_dim: int) -> UnCLIPTextProjModel:
    with seeded(seed, "karlo.text_proj"):
        return UnCLIPTextProjModel(
            clip_extra_context_tokens=4,
            clip_embeddings_dim=embed_dim,
            time_embed_dim=_TIME_EMBED_DIM,
            cross_attention_dim=_CROSS_ATTENTION_DIM,
        )


def _super_res(seed: int, component: str) -> UNet2DModel:
    with seeded(seed, component):
        return UNet2DModel(
            sample_size=TINY_KARLO_IMAGE_SIZE,
            in_channels=6,  # noisy sample + upscaled decoder output
            out_channels=3,
            down_block_types=("ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D"),
            up_block_types=("ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"),
            block_out_channels=_BLOCKS,
            layers_per_block=1,
            add_attention=False,
        )


def build_tiny_karlo(seed: int = 0) -> TinyKarlo:
    """Build the tiny Karlo pipelines with weights drawn from ``seed``.

    The image encoder is ``build_tiny_clip(seed).vision``. The global torch RNG state is left
    untouched; everything is float32, on the CPU, in eval mode, with progress bars off.
    """
    check_seed(seed)
    clip = build_tiny_clip(seed)
    shared: dict[str, Any] = {
        "decoder": _decoder(seed),
        "text_encoder": clip.text,
        "tokenizer": clip.tokenizer,
        "text_proj": _text_proj(seed, clip.embed_dim),
        "super_res_first": _super_res(seed, "karlo.super_res_first"),
        "super_res_last": _super_res(seed, "karlo.super_res_last"),
        "decoder_scheduler": UnCLIPScheduler(**KARLO_DECODER_SCHEDULER_CONFIG),
        "super_res_scheduler": UnCLIPScheduler(**KARLO_SUPER_RES_SCHEDULER_CONFIG),
    }
    variations = UnCLIPImageVariationPipeline(
        feature_extractor=clip.image_processor, image_encoder=clip.vision, **shared
    )
    unclip = UnCLIPPipeline(
        prior=build_tiny_prior(seed, clip, component="karlo.prior"),
        prior_scheduler=UnCLIPScheduler(**KARLO_PRIOR_SCHEDULER_CONFIG),
        **shared,
    )
    return TinyKarlo(
        variations=prepare_pipeline(variations),
        unclip=prepare_pipeline(unclip),
        clip=clip,
        embed_dim=clip.embed_dim,
        seed=seed,
    )


def save_tiny_karlo(directory: str | os.PathLike[str], seed: int = 0) -> tuple[Path, Path]:
    """Write the tiny Karlo built from ``seed`` as ``directory/karlo-v1-alpha-image-variations``
    and ``directory/karlo-v1-alpha`` (hub layouts, see the module docstring; each replaced
    atomically if present) and return ``(variations_dir, prior_repo_dir)``."""
    root = check_directory(directory)
    model = build_tiny_karlo(seed)
    variations_dir = save_pipeline(model.variations, root / "karlo-v1-alpha-image-variations",
                                   model_index=KARLO_MODEL_INDEX_OVERRIDES)
    prior_repo_dir = save_pipeline(model.unclip, root / "karlo-v1-alpha",
                                   model_index=KARLO_MODEL_INDEX_OVERRIDES)
    return variations_dir, prior_repo_dir
