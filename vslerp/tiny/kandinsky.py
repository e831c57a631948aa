"""Tiny Kandinsky 2.2: real diffusers prior and decoder pipelines with tiny configs.

The prior (``KandinskyV22PriorPipeline``) holds the tiny CLIP of :mod:`vslerp.tiny.clip` as its
image encoder, text encoder, tokenizer and image processor, a one-layer ``PriorTransformer``
(embedding dim 32, 77 text tokens) and an ``UnCLIPScheduler`` configured like the
kandinsky-2-2-prior scheduler. Its ``clip_mean``/``clip_std`` are the per-dimension mean and
standard deviation of the tiny image encoder's raw embeddings of
:func:`~vslerp.tiny.images.reference_images`, non-zero like the real prior's statistics (or a
zero mean with ``zero_clip_mean=True``, the broken variant an editor must refuse).

The decoder (``KandinskyV22Pipeline``) holds a ``UNet2DConditionModel`` conditioned on image
embeddings (``addition_embed_type="image"``, ``encoder_hid_dim_type="image_proj"``, simple
cross-attention blocks, learned variance: 8 output channels), a two-level MoVQ ``VQModel``
(spatial norm, attention blocks; 2x upsampling, so a 64 x 64 image comes from 32 x 32 latents)
and a ``DDPMScheduler`` configured like kandinsky-2-2-decoder's.

:func:`save_tiny_kandinsky22` writes both pipelines in the hub layout (``model_index.json`` plus
one folder per component: the prior folder holds ``image_encoder``, ``image_processor``,
``prior``, ``scheduler``, ``text_encoder``, ``tokenizer``; the decoder folder holds ``movq``,
``scheduler``, ``unet``), so ``from_pretrained(folder)`` and
``CLIPVisionModelWithProjection.from_pretrained(prior_folder, subfolder="image_encoder")`` work
offline exactly as with the real repositories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    DDPMScheduler,
    KandinskyV22Pipeline,
    KandinskyV22PriorPipeline,
    UnCLIPScheduler,
    UNet2DConditionModel,
    VQModel,
)

from vslerp.tiny._common import (
    check_directory,
    check_flag,
    check_seed,
    prepare_pipeline,
    save_pipeline,
    seeded,
)
from vslerp.tiny.clip import TinyClip, build_tiny_clip
from vslerp.tiny.prior import build_tiny_prior

__all__ = [
    "KANDINSKY22_DECODER_SCHEDULER_CONFIG",
    "KANDINSKY22_PRIOR_SCHEDULER_CONFIG",
    "TINY_KANDINSKY22_IMAGE_SIZE",
    "TinyKandinsky22",
    "build_tiny_kandinsky22",
    "save_tiny_kandinsky22",
]

#: Default output size of the tiny decoder in pixels (latents are half of it per side).
TINY_KANDINSKY22_IMAGE_SIZE = 64

#: kandinsky-community/kandinsky-2-2-prior's scheduler (``UnCLIPScheduler``).
KANDINSKY22_PRIOR_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "variance_type": "fixed_small_log",
    "prediction_type": "sample",
    "clip_sample": True,
    "clip_sample_range": 10.0,
}

#: kandinsky-community/kandinsky-2-2-decoder's scheduler (``DDPMScheduler``) as far as it can be
#: determined offline: linear betas 0.00085..0.012, epsilon prediction, no sample clipping,
#: ``steps_offset=1`` with "leading" spacing; the UNet's variance channels are discarded.
KANDINSKY22_DECODER_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "epsilon",
    "variance_type": "fixed_small",
    "clip_sample": False,
    "thresholding": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}


@dataclass(frozen=True, eq=False)
class TinyKandinsky22:
    """The tiny Kandinsky 2.2 backend.

    Attributes:
        prior: text/image -> image embedding; ``prior(prompt).image_embeds`` is ``(1, D)``
            float32. ``prior.image_encoder`` is ``clip.vision`` (the same module).
        decoder: ``decoder(image_embeds=(B, D), negative_image_embeds=(B, D), height, width,
            latents=(B, 4, height // 2, width // 2), ...)`` -> images of ``height x width``
            (multiples of 4; default 64).
        clip: the tiny CLIP whose towers the prior uses.
        embed_dim: ``D`` (32).
        seed: the seed the weights were drawn with.
    """

    prior: KandinskyV22PriorPipeline
    decoder: KandinskyV22Pipeline
    clip: TinyClip
    embed_dim: int
    seed: int

    @property
    def clip_mean(self) -> torch.Tensor:
        """The prior's ``clip_mean``: ``(1, D)`` float32 (a detached copy)."""
        return self.prior.prior.clip_mean.detach().clone()


def _tiny_unet(seed: int, embed_dim: int) -> UNet2DConditionModel:
    with seeded(seed, "kandinsky22.unet"):
        return UNet2DConditionModel(
            sample_size=TINY_KANDINSKY22_IMAGE_SIZE // 2,
            in_channels=4,
            out_channels=8,  # noise and learned variance, like the real decoder
            down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
            up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
            mid_block_type="UNetMidBlock2DSimpleCrossAttn",
            block_out_channels=(32, 64),
            layers_per_block=1,
            addition_embed_type="image",
            encoder_hid_dim=embed_dim,
            encoder_hid_dim_type="image_proj",
            cross_attention_dim=32,
            attention_head_dim=4,
            resnet_time_scale_shift="scale_shift",
            class_embed_type=None,
        )


def _tiny_movq(seed: int) -> VQModel:
    with seeded(seed, "kandinsky22.movq"):
        return VQModel(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
            up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            norm_type="spatial",
            num_vq_embeddings=12,
            vq_embed_dim=4,
        )


def build_tiny_kandinsky22(seed: int = 0, *, zero_clip_mean: bool = False) -> TinyKandinsky22:
    """Build the tiny Kandinsky 2.2 prior and decoder with weights drawn from ``seed``.

    The image encoder is ``build_tiny_clip(seed).vision``. ``zero_clip_mean=True`` sets the
    prior's ``clip_mean`` to zeros (``clip_std`` unchanged). The global torch RNG state is left
    untouched; both pipelines are float32, on the CPU, in eval mode, with progress bars off.
    """
    check_seed(seed)
    check_flag(zero_clip_mean, "zero_clip_mean")
    clip = build_tiny_clip(seed)
    prior = KandinskyV22PriorPipeline(
        prior=build_tiny_prior(seed, clip, component="kandinsky22.prior",
                               zero_clip_mean=zero_clip_mean),
        image_encoder=clip.vision,
        text_encoder=clip.text,
        tokenizer=clip.tokenizer,
        scheduler=UnCLIPScheduler(**KANDINSKY22_PRIOR_SCHEDULER_CONFIG),
        image_processor=clip.image_processor,
    )
    decoder = KandinskyV22Pipeline(
        unet=_tiny_unet(seed, clip.embed_dim),
        scheduler=DDPMScheduler(**KANDINSKY22_DECODER_SCHEDULER_CONFIG),
        movq=_tiny_movq(seed),
    )
    return TinyKandinsky22(
        prior=prepare_pipeline(prior),
        decoder=prepare_pipeline(decoder),
        clip=clip,
        embed_dim=clip.embed_dim,
        seed=seed,
    )


def save_tiny_kandinsky22(
    directory: str | os.PathLike[str], seed: int = 0, *, zero_clip_mean: bool = False
) -> tuple[Path, Path]:
    """Write the tiny Kandinsky 2.2 built from ``seed`` as two hub-layout folders,
    ``directory/kandinsky-2-2-prior`` and ``directory/kandinsky-2-2-decoder`` (each replaced
    atomically if present), and return ``(prior_dir, decoder_dir)``.

    ``KandinskyV22PriorPipeline.from_pretrained(prior_dir)`` and
    ``KandinskyV22Pipeline.from_pretrained(decoder_dir)`` then load them offline.
    """
    root = check_directory(directory)
    model = build_tiny_kandinsky22(seed, zero_clip_mean=zero_clip_mean)
    prior_dir = save_pipeline(model.prior, root / "kandinsky-2-2-prior")
    decoder_dir = save_pipeline(model.decoder, root / "kandinsky-2-2-decoder")
    return prior_dir, decoder_dir
