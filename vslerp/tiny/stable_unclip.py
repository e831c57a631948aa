"""Tiny stable unCLIP: a real diffusers ``StableUnCLIPImg2ImgPipeline`` with tiny components.

The image side is the tiny CLIP (image encoder and feature extractor); the text encoder is a
``CLIPTextModel`` holding the tiny CLIP's text tower (stable unCLIP, like Stable Diffusion 2,
conditions on the text tower's hidden states, not its projection), with the tiny tokenizer.
The ``StableUnCLIPImageNormalizer`` holds the per-dimension mean and standard deviation of the
tiny image encoder's raw embeddings of :func:`~vslerp.tiny.images.reference_images` (the real
checkpoints hold their encoder's statistics there; the diffusers default is mean 0, std 1). The
UNet is a two-level latent ``UNet2DConditionModel`` with transformer cross-attention and a
``projection`` class embedding of size ``2 D`` (noised image embedding + noise-level
embedding); the VAE is a two-level ``AutoencoderKL`` (2x downsampling), so the default output is
32 x 32 pixels from 16 x 16 latents. Schedulers follow stable-diffusion-2-1-unclip: DDIM with
v-prediction for denoising, DDPM with the ``squaredcos_cap_v2`` schedule for noising the image
embedding.

:func:`save_tiny_stable_unclip` writes the hub layout (``model_index.json`` and
``feature_extractor``, ``image_encoder``, ``image_normalizer``, ``image_noising_scheduler``,
``scheduler``, ``text_encoder``, ``tokenizer``, ``unet``, ``vae``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    StableUnCLIPImg2ImgPipeline,
    UNet2DConditionModel,
)
from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
    StableUnCLIPImageNormalizer,
)
from transformers import CLIPTextModel

from vslerp.tiny._common import check_directory, check_seed, prepare_pipeline, save_pipeline, seeded
from vslerp.tiny.clip import TinyClip, build_tiny_clip, image_embedding_stats

__all__ = [
    "STABLE_UNCLIP_NOISING_SCHEDULER_CONFIG",
    "STABLE_UNCLIP_SCHEDULER_CONFIG",
    "TINY_STABLE_UNCLIP_IMAGE_SIZE",
    "TinyStableUnclip",
    "build_tiny_stable_unclip",
    "save_tiny_stable_unclip",
]

#: Default output side length in pixels (UNet sample size 16 x VAE scale factor 2).
TINY_STABLE_UNCLIP_IMAGE_SIZE = 32

STABLE_UNCLIP_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "beta_end": 0.012, "prediction_type": "v_prediction", "set_alpha_to_one": False,
    "steps_offset": 1, "clip_sample": False,
}
STABLE_UNCLIP_NOISING_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
}


@dataclass(frozen=True, eq=False)
class TinyStableUnclip:
    """The tiny stable unCLIP backend.

    Attributes:
        pipeline: ``pipeline(image=..., image_embeds=(B, D), prompt=..., latents=(B, 4, h/2,
            w/2), noise_level=0, ...)`` -> images (default 32 x 32);
            ``pipeline.image_normalizer.mean`` is ``(1, D)`` float32.
        clip: the tiny CLIP (``pipeline.image_encoder is clip.vision``).
        embed_dim: ``D`` (32).
        seed: the seed the weights were drawn with.
    """

    pipeline: StableUnCLIPImg2ImgPipeline
    clip: TinyClip
    embed_dim: int
    seed: int


def _text_encoder(seed: int, clip: TinyClip) -> CLIPTextModel:
    with seeded(seed, "stable_unclip.text_encoder"):
        model = CLIPTextModel(clip.text.config)
    tower = {key: value for key, value in clip.text.state_dict().items()
             if not key.startswith("text_projection.")}
    if not set(tower) <= set(model.state_dict()):
        # transformers 5: CLIPTextModel is the tower itself (no ``text_model.`` prefix);
        # transformers 4: both classes wrap the tower as ``text_model``.
        tower = {key.removeprefix("text_model."): value for key, value in tower.items()}
    model.load_state_dict(tower, strict=True)
    return model


def _image_normalizer(clip: TinyClip) -> StableUnCLIPImageNormalizer:
    normalizer = StableUnCLIPImageNormalizer(embedding_dim=clip.embed_dim)
    mean, std = image_embedding_stats(clip)
    with torch.no_grad():
        normalizer.mean.copy_(mean)
        normalizer.std.copy_(std)
    return normalizer


def _unet(seed: int, embed_dim: int) -> UNet2DConditionModel:
    with seeded(seed, "stable_unclip.unet"):
        return UNet2DConditionModel(
            sample_size=TINY_STABLE_UNCLIP_IMAGE_SIZE // 2,
            in_channels=4,
            out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            attention_head_dim=(2, 4),
            cross_attention_dim=embed_dim,
            class_embed_type="projection",
            projection_class_embeddings_input_dim=2 * embed_dim,
            upcast_attention=True,
            use_linear_projection=True,
        )


def _vae(seed: int) -> AutoencoderKL:
    with seeded(seed, "stable_unclip.vae"):
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=TINY_STABLE_UNCLIP_IMAGE_SIZE,
        )


def build_tiny_stable_unclip(seed: int = 0) -> TinyStableUnclip:
    """Build the tiny stable unCLIP img2img pipeline with weights drawn from ``seed``.

    The image encoder is ``build_tiny_clip(seed).vision``. The global torch RNG state is left
    untouched; everything is float32, on the CPU, in eval mode, with the progress bar off.
    """
    check_seed(seed)
    clip = build_tiny_clip(seed)
    pipeline = StableUnCLIPImg2ImgPipeline(
        feature_extractor=clip.image_processor,
        image_encoder=clip.vision,
        image_normalizer=_image_normalizer(clip),
        image_noising_scheduler=DDPMScheduler(**STABLE_UNCLIP_NOISING_SCHEDULER_CONFIG),
        tokenizer=clip.tokenizer,
        text_encoder=_text_encoder(seed, clip),
        unet=_unet(seed, clip.embed_dim),
        scheduler=DDIMScheduler(**STABLE_UNCLIP_SCHEDULER_CONFIG),
        vae=_vae(seed),
    )
    return TinyStableUnclip(
        pipeline=prepare_pipeline(pipeline), clip=clip, embed_dim=clip.embed_dim, seed=seed
    )


def save_tiny_stable_unclip(directory: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write the tiny stable unCLIP built from ``seed`` to ``directory`` in the hub layout
    (replaced atomically if present) and return it;
    ``StableUnCLIPImg2ImgPipeline.from_pretrained(directory)`` loads it offline."""
    target = check_directory(directory)
    return save_pipeline(build_tiny_stable_unclip(seed).pipeline, target)
