"""Kandinsky 2.2 (and the tiny offline backend, which is a tiny Kandinsky 2.2).

Components, from two repositories:

* kandinsky-community/kandinsky-2-2-prior: the image encoder (``CLIPVisionModelWithProjection``,
  subfolder ``image_encoder``, ViT-bigG/14, D = 1280), its ``CLIPImageProcessor`` (subfolder
  ``image_processor``), and the prior's ``clip_mean``/``clip_std`` (read alone from
  ``prior/diffusion_pytorch_model.safetensors``; the image mean is ``clip_mean``, a real
  per-dimension mean of raw image embeddings). The full ``KandinskyV22PriorPipeline`` is loaded
  only when prompts are embedded, reusing the already loaded image encoder.
* kandinsky-community/kandinsky-2-2-decoder: the ``KandinskyV22Pipeline`` (UNet, MoVQ, DDPM).

The decoder's negative image embedding is the prior's zero-image embedding: the image encoder
applied to an all-zero image, as ``KandinskyV22PriorPipeline.get_zero_embed`` computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from vslerp.means import ModalityMean

__all__ = [
    "KANDINSKY22_DECODER",
    "KANDINSKY22_PRIOR",
    "KandinskyEditor",
    "load_kandinsky22",
    "load_tiny",
]

KANDINSKY22_PRIOR = "kandinsky-community/kandinsky-2-2-prior"
KANDINSKY22_DECODER = "kandinsky-community/kandinsky-2-2-decoder"


class KandinskyEditor(BaseEditor):
    """An editor over a ``KandinskyV22Pipeline`` decoder (see the module docstring).

    Args:
        decoder: the ``KandinskyV22Pipeline``, on ``device``/``dtype``.
        clip_stats: returns the prior's ``(clip_mean, clip_std)`` (``(1, D)`` tensors, either
            may be ``None``); called once, when the built-in mean is first needed.
        stats_source: provenance of those statistics.
        **base: see :class:`~vslerp.editors.base.BaseEditor`.
    """

    def __init__(self, *, decoder: Any,
                 clip_stats: Callable[[], tuple[torch.Tensor | None, torch.Tensor | None]],
                 stats_source: str, **base: Any) -> None:
        super().__init__(builtin_mean_source=f"clip_mean of {stats_source}", **base)
        self.decoder = decoder
        self._clip_stats = clip_stats
        self._stats_source = stats_source
        self._zero_embed: torch.Tensor | None = None
        decoder.set_progress_bar_config(disable=True)

    @property
    def _scale(self) -> int:
        return int(self.decoder.movq_scale_factor)

    def output_size(self, height: int | None = None,
                    width: int | None = None) -> tuple[int, int]:
        """Default: the UNet's sample size times the MoVQ scale factor (512 for Kandinsky 2.2,
        64 for tiny); sizes must be multiples of the scale factor squared (64, 4)."""
        side = int(self.decoder.unet.config.sample_size) * self._scale
        return self._size_or_default(height, width, (side, side), self._scale**2)

    def _noise_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
        channels = int(self.decoder.unet.config.in_channels)
        return {"latents": (channels, height // self._scale, width // self._scale)}

    @torch.no_grad()
    def negative_embedding(self) -> torch.Tensor:
        """The zero-image embedding ``(1, D)`` on the model's device and dtype."""
        if self._zero_embed is None:
            size = int(self.image_encoder.config.image_size)
            param = next(self.image_encoder.parameters())
            zero = torch.zeros(1, 3, size, size, device=self.device, dtype=param.dtype)
            embed = self.image_encoder(zero)["image_embeds"]
            self._zero_embed = embed.to(self.device, self.dtype)
        return self._zero_embed

    def _decode_batch(self, embeds: torch.Tensor, noise: dict[str, torch.Tensor],
                      generators: list[torch.Generator], *, steps: int, guidance: float,
                      height: int, width: int, latent: bool) -> list[Image.Image] | torch.Tensor:
        negative = self.negative_embedding().repeat(embeds.shape[0], 1)
        out = self.decoder(image_embeds=embeds, negative_image_embeds=negative, height=height,
                           width=width, num_inference_steps=steps, guidance_scale=guidance,
                           generator=generators, latents=noise["latents"],
                           output_type="latent" if latent else "pil")
        return out.images

    def _builtin_mean(self) -> ModalityMean:
        return mean_from_prior_stats(self._clip_stats, encoder=self.encoder_id,
                                     source=self._stats_source)


def load_kandinsky22(*, device: torch.device, dtype: torch.dtype, revision: str | None,
                     local_files_only: bool, mean: MeanSpec, cpu_offload: bool,
                     decoder: Any = None, prior: Any = None) -> KandinskyEditor:
    """Load the ``kandinsky-2.2`` editor. ``prior``/``decoder`` replace the repository ids
    (another hub id, or a local folder in the hub layout); ``revision`` applies to the decoder
    repository."""
    from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    prior_repo = repo_arg(prior, "prior", KANDINSKY22_PRIOR)
    decoder_repo = repo_arg(decoder, "decoder", KANDINSKY22_DECODER)
    common = {"local_files_only": local_files_only}
    weights = diffusers_dtype_kwargs(dtype)
    image_encoder = hub_component(
        CLIPVisionModelWithProjection.from_pretrained, prior_repo, subfolder="image_encoder",
        what="Kandinsky 2.2 image encoder", probe_file="config.json", **common,
        **transformers_dtype_kwargs(dtype)).to(device=device, dtype=dtype).eval()
    image_processor = hub_component(
        CLIPImageProcessor.from_pretrained, prior_repo, subfolder="image_processor",
        what="Kandinsky 2.2 image processor", probe_file="preprocessor_config.json", **common)
    pipeline = hub_component(
        KandinskyV22Pipeline.from_pretrained, decoder_repo, what="Kandinsky 2.2 decoder",
        probe_file="model_index.json", revision=revision, **common, **weights)

    def clip_stats() -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return read_prior_stats(prior_repo, what=f"clip_mean of {prior_repo}", **common)

    def prior_factory() -> Any:
        pipe = hub_component(
            KandinskyV22PriorPipeline.from_pretrained, prior_repo,
            what="Kandinsky 2.2 prior", probe_file="model_index.json",
            image_encoder=image_encoder, image_processor=image_processor, **common, **weights)
        return place_pipeline(pipe, device, dtype, cpu_offload)

    return KandinskyEditor(
        id="kandinsky-2.2", revision=revision, device=device, dtype=dtype,
        decoder=place_pipeline(pipeline, device, dtype, cpu_offload), image_encoder=image_encoder,
        image_processor=image_processor, encoder_id=f"{prior_repo}/image_encoder",
        clip_stats=clip_stats, stats_source=prior_repo, mean=mean, prior_factory=prior_factory)


def load_tiny(*, device: torch.device, dtype: torch.dtype, mean: MeanSpec, cpu_offload: bool,
              seed: int = 0) -> KandinskyEditor:
    """The ``tiny`` editor: :func:`vslerp.tiny.build_tiny_kandinsky22` (random weights drawn
    from ``seed``, no downloads) through the same :class:`KandinskyEditor` as Kandinsky 2.2."""
    from vslerp.tiny import build_tiny_kandinsky22

    model = build_tiny_kandinsky22(seed)
    prior_pipe = place_pipeline(model.prior, device, dtype, cpu_offload)
    decoder_pipe = place_pipeline(model.decoder, device, dtype, cpu_offload)
    encoder = model.prior.image_encoder

    def clip_stats() -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return model.prior.prior.clip_mean.detach(), model.prior.prior.clip_std.detach()

    return KandinskyEditor(
        id="tiny", revision=None, device=device, dtype=dtype, decoder=decoder_pipe,
        image_encoder=encoder, image_processor=model.prior.image_processor,
        encoder_id=f"tiny-kandinsky-2.2(seed={seed})/image_encoder", clip_stats=clip_stats,
        stats_source=f"the tiny Kandinsky 2.2 prior (seed {seed})", mean=mean,
        prior_factory=lambda: prior_pipe)
