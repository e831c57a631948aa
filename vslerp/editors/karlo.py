"""Karlo (unCLIP) image variations: kakaobrain/karlo-v1-alpha-image-variations.

The decoder is diffusers' ``UnCLIPImageVariationPipeline`` (kept under
``diffusers.pipelines.deprecated``; vslerp pins ``diffusers>=0.30,<0.43`` where it imports): a
pixel-space decoder (64 px) followed by two super-resolution UNets (256 px), conditioned on a
ViT-L/14 image embedding (D = 768). Its ``text_proj`` component is loaded explicitly, because
the published ``model_index.json`` names a module path that current diffusers no longer has.

The image mean is the ``clip_mean`` of kakaobrain/karlo-v1-alpha's prior, read alone from
``prior/diffusion_pytorch_model.safetensors`` (only that file is downloaded, only that tensor
and ``clip_std`` are read). Prompts go through that prior (loaded on first use) in a
``KandinskyV22PriorPipeline``, whose sampling loop is the one ``UnCLIPPipeline`` runs for its
prior; the text encoder and tokenizer are the variations pipeline's own (both repositories
hold the same CLIP ViT-L/14 text tower).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from vslerp.editors._loading import (
    diffusers_dtype_kwargs,
    hub_component,
    mean_from_prior_stats,
    place_pipeline,
    read_prior_stats,
    repo_arg,
    transformers_dtype_kwargs,
)
from vslerp.editors.base import BaseEditor, MeanSpec
from vslerp.errors import InputError
from vslerp.means import ModalityMean

__all__ = [
    "KARLO_PRIOR",
    "KARLO_VARIATIONS",
    "KarloEditor",
    "UnCLIPImageVariationPipeline",
    "load_karlo",
]

KARLO_VARIATIONS = "kakaobrain/karlo-v1-alpha-image-variations"
KARLO_PRIOR = "kakaobrain/karlo-v1-alpha"

try:  # diffusers >= 0.34 keeps unCLIP under pipelines/deprecated; the top-level name remains
    from diffusers import UnCLIPImageVariationPipeline
except ImportError:  # pragma: no cover - depends on the installed diffusers
    from diffusers.pipelines.deprecated.unclip import UnCLIPImageVariationPipeline

try:
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
except ImportError:  # pragma: no cover - diffusers < 0.34
    from diffusers.pipelines.unclip.text_proj import UnCLIPTextProjModel  # type: ignore


class KarloEditor(BaseEditor):
    """An editor over ``UnCLIPImageVariationPipeline`` (see the module docstring).

    Output size is fixed by the super-resolution UNet (256 px for Karlo). Decoding uses
    ``steps`` (>= 2) decoder steps and ``min(steps, super_res_steps)`` super-resolution steps.
    ``output="latent"`` returns the super-resolved pixels ``(N, 3, H, W)`` in [0, 1] (Karlo
    has no latent space).
    """

    super_res_steps: int = 7
    min_steps: int = 2  # UnCLIPScheduler.set_timesteps divides by (steps - 1)

    def __init__(self, *, pipeline: Any, clip_stats: Any, stats_source: str,
                 **base: Any) -> None:
        super().__init__(builtin_mean_source=f"clip_mean of {stats_source}", **base)
        self.pipeline = pipeline
        self._clip_stats = clip_stats
        self._stats_source = stats_source
        pipeline.set_progress_bar_config(disable=True)

    def output_size(self, height: int | None = None,
                    width: int | None = None) -> tuple[int, int]:
        """Always the super-resolution size; other sizes are refused."""
        side = int(self.pipeline.super_res_first.config.sample_size)
        for name, value in (("height", height), ("width", width)):
            if value is not None and value != side:
                raise InputError(name, value, f"{self.id} always decodes {side}x{side} images; "
                                              "leave height/width unset")
        return side, side

    def _noise_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
        decoder = self.pipeline.decoder.config
        super_res = self.pipeline.super_res_first.config
        return {
            "decoder_latents": (int(decoder.in_channels), int(decoder.sample_size),
                                int(decoder.sample_size)),
            "super_res_latents": (int(super_res.in_channels) // 2, height, width),
        }

    def _decode_batch(self, embeds: torch.Tensor, noise: dict[str, torch.Tensor],
                      generators: list[torch.Generator], *, steps: int, guidance: float,
                      height: int, width: int, latent: bool) -> list[Image.Image] | torch.Tensor:
        out = self.pipeline(image=None, image_embeddings=embeds,
                            decoder_latents=noise["decoder_latents"],
                            super_res_latents=noise["super_res_latents"], generator=generators,
                            decoder_num_inference_steps=steps,
                            super_res_num_inference_steps=min(steps, self.super_res_steps),
                            decoder_guidance_scale=guidance,
                            output_type="np" if latent else "pil")
        if latent:
            return torch.from_numpy(np.ascontiguousarray(out.images)).permute(0, 3, 1, 2)
        return out.images

    def _builtin_mean(self) -> ModalityMean:
        return mean_from_prior_stats(self._clip_stats, encoder=self.encoder_id,
                                     source=self._stats_source)


def _variations_components(dtype: torch.dtype) -> list[tuple[str, Any, str, dict[str, Any]]]:
    """``(name, from_pretrained, probe file, extra kwargs)`` of every image-variations
    component. They are loaded one by one: the published ``model_index.json`` declares
    ``text_proj`` under a module path (``unclip``) that current diffusers refuses to resolve."""
    from diffusers import UnCLIPScheduler, UNet2DConditionModel, UNet2DModel
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        CLIPVisionModelWithProjection,
    )

    model, tf_model = diffusers_dtype_kwargs(dtype), transformers_dtype_kwargs(dtype)
    return [
        ("decoder", UNet2DConditionModel.from_pretrained, "config.json", model),
        ("text_proj", UnCLIPTextProjModel.from_pretrained, "config.json", model),
        ("super_res_first", UNet2DModel.from_pretrained, "config.json", model),
        ("super_res_last", UNet2DModel.from_pretrained, "config.json", model),
        ("image_encoder", CLIPVisionModelWithProjection.from_pretrained, "config.json",
         tf_model),
        ("text_encoder", CLIPTextModelWithProjection.from_pretrained, "config.json", tf_model),
        ("tokenizer", CLIPTokenizer.from_pretrained, "tokenizer_config.json", {}),
        ("feature_extractor", CLIPImageProcessor.from_pretrained, "preprocessor_config.json",
         {}),
        ("decoder_scheduler", UnCLIPScheduler.from_pretrained, "scheduler_config.json", {}),
        ("super_res_scheduler", UnCLIPScheduler.from_pretrained, "scheduler_config.json", {}),
    ]


def load_karlo(*, device: torch.device, dtype: torch.dtype, revision: str | None,
               local_files_only: bool, mean: MeanSpec, cpu_offload: bool,
               decoder: Any = None, prior: Any = None) -> KarloEditor:
    """Load the ``karlo`` editor; ``decoder`` replaces the image-variations repository and
    ``prior`` the karlo-v1-alpha repository (hub ids or local hub-layout folders);
    ``revision`` applies to the decoder repository."""
    from diffusers import KandinskyV22PriorPipeline, PriorTransformer, UnCLIPScheduler

    variations_repo = repo_arg(decoder, "decoder", KARLO_VARIATIONS)
    prior_repo = repo_arg(prior, "prior", KARLO_PRIOR)
    common = {"local_files_only": local_files_only}
    weights = diffusers_dtype_kwargs(dtype)
    pipeline = UnCLIPImageVariationPipeline(**{
        name: hub_component(loader, variations_repo, subfolder=name, probe_file=probe,
                            what=f"Karlo image-variations {name}", revision=revision,
                            **common, **extra)
        for name, loader, probe, extra in _variations_components(dtype)})
    pipeline = place_pipeline(pipeline, device, dtype, cpu_offload)

    def clip_stats() -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return read_prior_stats(prior_repo, what=f"clip_mean of {prior_repo}", **common)

    def prior_factory() -> Any:
        transformer = hub_component(PriorTransformer.from_pretrained, prior_repo,
                                    subfolder="prior", what="Karlo prior",
                                    probe_file="config.json", **common, **weights)
        scheduler = hub_component(UnCLIPScheduler.from_pretrained, prior_repo,
                                  subfolder="prior_scheduler", what="Karlo prior scheduler",
                                  probe_file="scheduler_config.json", **common)
        pipe = KandinskyV22PriorPipeline(
            prior=transformer, image_encoder=pipeline.image_encoder,
            text_encoder=pipeline.text_encoder, tokenizer=pipeline.tokenizer,
            scheduler=scheduler, image_processor=pipeline.feature_extractor)
        return place_pipeline(pipe, device, dtype, cpu_offload)

    return KarloEditor(
        id="karlo", revision=revision, device=device, dtype=dtype, pipeline=pipeline,
        image_encoder=pipeline.image_encoder, image_processor=pipeline.feature_extractor,
        encoder_id=f"{variations_repo}/image_encoder", clip_stats=clip_stats,
        stats_source=prior_repo, mean=mean, prior_factory=prior_factory)
