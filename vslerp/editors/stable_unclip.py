"""Stable unCLIP: stabilityai/stable-diffusion-2-1-unclip (ViT-H/14, D = 1024) and
stabilityai/stable-diffusion-2-1-unclip-small (ViT-L/14, D = 768).

The decoder is diffusers' ``StableUnCLIPImg2ImgPipeline`` called with ``image_embeds=`` (no
input image), an empty text prompt and ``noise_level`` (default 0: the embedding is decoded
as given). There is no prior, so prompts cannot be embedded.

The image mean is the pipeline's ``image_normalizer.mean`` when it is non-trivial (the
checkpoint holds its encoder's statistics there); the diffusers default (mean 0, std 1)
carries no information, and then a mean must be given with ``mean=`` / ``--mean``.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from vslerp.editors._loading import (
    diffusers_dtype_kwargs,
    hub_component,
    place_pipeline,
    repo_arg,
)
from vslerp.editors.base import BaseEditor, MeanSpec
from vslerp.errors import InputError
from vslerp.means import ModalityMean

__all__ = [
    "STABLE_UNCLIP",
    "STABLE_UNCLIP_SMALL",
    "StableUnclipEditor",
    "load_stable_unclip",
]

STABLE_UNCLIP = "stabilityai/stable-diffusion-2-1-unclip"
STABLE_UNCLIP_SMALL = "stabilityai/stable-diffusion-2-1-unclip-small"


class StableUnclipEditor(BaseEditor):
    """An editor over ``StableUnCLIPImg2ImgPipeline`` (see the module docstring).

    Attributes:
        noise_level: noise added to the image embedding before decoding (0..999).
    """

    noise_level: int = 0

    def __init__(self, *, pipeline: Any, repo: str, **base: Any) -> None:
        super().__init__(builtin_mean_source=f"image_normalizer.mean of {repo}", **base)
        self.pipeline = pipeline
        self._repo = repo
        pipeline.set_progress_bar_config(disable=True)

    @property
    def _scale(self) -> int:
        return int(self.pipeline.vae_scale_factor)

    def output_size(self, height: int | None = None,
                    width: int | None = None) -> tuple[int, int]:
        """Default: the UNet's sample size times the VAE scale factor (768 for
        stable-diffusion-2-1-unclip); sizes must be multiples of 8 and of that factor."""
        side = int(self.pipeline.unet.config.sample_size) * self._scale
        return self._size_or_default(height, width, (side, side), max(8, self._scale))

    def _noise_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
        channels = int(self.pipeline.unet.config.in_channels)
        return {"latents": (channels, height // self._scale, width // self._scale)}

    def _decode_batch(self, embeds: torch.Tensor, noise: dict[str, torch.Tensor],
                      generators: list[torch.Generator], *, steps: int, guidance: float,
                      height: int, width: int, latent: bool) -> list[Image.Image] | torch.Tensor:
        out = self.pipeline(image=None, image_embeds=embeds, prompt=[""] * embeds.shape[0],
                            latents=noise["latents"], generator=generators,
                            num_inference_steps=steps, guidance_scale=guidance,
                            noise_level=self.noise_level, height=height, width=width,
                            output_type="latent" if latent else "pil")
        return out.images

    def _builtin_mean(self) -> ModalityMean:
        normalizer = self.pipeline.image_normalizer
        mean = normalizer.mean.detach().float().cpu()
        std = normalizer.std.detach().float().cpu()
        if not bool(mean.any()) or not bool(torch.isfinite(mean).all()):
            raise InputError("mean", None, f"the image_normalizer of {self._repo} holds no "
                                           "usable mean (all zeros: the diffusers default); "
                                           "this backend needs one given: pass mean= (--mean) "
                                           "a .safetensors mean or a folder of reference images")
        return ModalityMean(mean=mean.reshape(-1), std=std.reshape(-1).abs(),
                            encoder=self.encoder_id, modality="image",
                            source=f"image_normalizer.mean of {self._repo}")


def load_stable_unclip(*, small: bool, device: torch.device, dtype: torch.dtype,
                       revision: str | None, local_files_only: bool, mean: MeanSpec,
                       cpu_offload: bool, decoder: Any = None,
                       prior: Any = None) -> StableUnclipEditor:
    """Load ``stable-unclip`` (``small=False``) or ``stable-unclip-small``; ``decoder``
    replaces the repository (hub id or local hub-layout folder). There is no prior repository."""
    from diffusers import StableUnCLIPImg2ImgPipeline

    name = "stable-unclip-small" if small else "stable-unclip"
    if prior is not None:
        raise InputError("prior", prior, f"{name} has no prior; give decoder= only")
    repo = repo_arg(decoder, "decoder", STABLE_UNCLIP_SMALL if small else STABLE_UNCLIP)
    pipeline = hub_component(StableUnCLIPImg2ImgPipeline.from_pretrained, repo,
                             what=f"stable unCLIP decoder ({name})", probe_file="model_index.json",
                             revision=revision, local_files_only=local_files_only,
                             **diffusers_dtype_kwargs(dtype))
    pipeline = place_pipeline(pipeline, device, dtype, cpu_offload)
    return StableUnclipEditor(
        id=name, revision=revision, device=device, dtype=dtype, pipeline=pipeline, repo=repo,
        image_encoder=pipeline.image_encoder, image_processor=pipeline.feature_extractor,
        encoder_id=f"{repo}/image_encoder", mean=mean)
