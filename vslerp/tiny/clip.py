"""The tiny CLIP: real transformers CLIP towers with tiny configs and seeded random weights.

This is the ``tiny`` evaluator encoder and the image encoder of every tiny unCLIP-family
backend (Kandinsky 2.2 prior, Karlo image variations, stable unCLIP), so generator outputs and
the evaluator share one embedding space. Sizes: embeddings ``D = 32`` (hidden size = projection
size, like the real Kandinsky/Karlo encoders whose text hidden size equals the image embedding
size), images 32 x 32 pixels (patch 8, so 16 patches + CLS), text 77 tokens, 2 layers, 4 heads.
The image processor resizes the shortest edge to 32 (bicubic), centre-crops 32 x 32 and
normalises with OpenAI CLIP's mean/std.

:func:`save_tiny_clip` writes the standard single-folder transformers CLIP layout
(``config.json`` holding a ``CLIPConfig``, ``model.safetensors`` holding ``CLIPModel`` weights,
the tokenizer files and ``preprocessor_config.json``), so ``CLIPModel``,
``CLIPVisionModelWithProjection``, ``CLIPTextModelWithProjection``, ``CLIPTokenizer``,
``CLIPImageProcessor`` and ``CLIPProcessor`` all load from it with ``from_pretrained(folder)``,
exactly as they do from ``openai/clip-vit-base-patch32``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPTextConfig,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from vslerp.errors import InputError
from vslerp.fileio import write_directory_atomic
from vslerp.tiny._common import check_directory, check_seed, seeded
from vslerp.tiny.images import reference_images
from vslerp.tiny.tokenizer import (
    BOS_TOKEN,
    EOS_TOKEN,
    TINY_TEXT_LENGTH,
    build_tiny_tokenizer,
    save_tiny_tokenizer,
    tiny_vocab,
)

__all__ = [
    "OPENAI_CLIP_MEAN",
    "OPENAI_CLIP_STD",
    "TINY_EMBED_DIM",
    "TINY_IMAGE_SIZE",
    "TinyClip",
    "build_tiny_clip",
    "image_embedding_stats",
    "raw_image_embeds",
    "save_tiny_clip",
    "tiny_clip_model",
    "tiny_image_processor",
    "tiny_text_config",
    "tiny_vision_config",
]

TINY_EMBED_DIM = 32
TINY_IMAGE_SIZE = 32
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def tiny_text_config() -> CLIPTextConfig:
    """Config of the tiny text tower: vocab of :func:`~vslerp.tiny.tokenizer.tiny_vocab`,
    hidden = projection = 32, 77 positions, 2 layers, 4 heads; BOS/EOS/pad ids match the
    tokenizer (EOS is the largest id, so both pooling rules of CLIP agree)."""
    vocab = tiny_vocab()
    return CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=TINY_EMBED_DIM,
        intermediate_size=2 * TINY_EMBED_DIM,
        projection_dim=TINY_EMBED_DIM,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=TINY_TEXT_LENGTH,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=vocab[BOS_TOKEN],
        eos_token_id=vocab[EOS_TOKEN],
        pad_token_id=vocab[EOS_TOKEN],
    )


def tiny_vision_config() -> CLIPVisionConfig:
    """Config of the tiny vision tower: 32 px images, patch 8, hidden = projection = 32,
    2 layers, 4 heads."""
    return CLIPVisionConfig(
        hidden_size=TINY_EMBED_DIM,
        intermediate_size=2 * TINY_EMBED_DIM,
        projection_dim=TINY_EMBED_DIM,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_channels=3,
        image_size=TINY_IMAGE_SIZE,
        patch_size=8,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )


def tiny_image_processor() -> CLIPImageProcessor:
    """CLIP preprocessing at 32 px: RGB, bicubic resize of the shortest edge to 32, centre crop
    32 x 32, rescale to [0, 1], normalise with OpenAI CLIP's mean/std."""
    return CLIPImageProcessor(
        do_convert_rgb=True,
        do_resize=True,
        size={"shortest_edge": TINY_IMAGE_SIZE},
        resample=PIL.Image.Resampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
    )


@dataclass(frozen=True, eq=False)
class TinyClip:
    """A tiny CLIP: both towers in eval mode, float32, on the CPU.

    Attributes:
        vision: image tower; ``vision(pixel_values).image_embeds`` is ``(N, embed_dim)`` float32
            (raw, not normalised) for ``pixel_values`` of shape ``(N, 3, 32, 32)``.
        text: text tower; ``text(input_ids).text_embeds`` is ``(N, embed_dim)`` float32 (raw)
            for ``input_ids`` of shape ``(N, L)``, ``L <= 77``.
        tokenizer: a ``CLIPTokenizer`` padding/truncating to 77 tokens.
        image_processor: a ``CLIPImageProcessor`` producing ``(N, 3, 32, 32)`` float32.
        embed_dim: ``D`` (32).
        seed: the seed the weights were drawn with.
    """

    vision: CLIPVisionModelWithProjection
    text: CLIPTextModelWithProjection
    tokenizer: CLIPTokenizer
    image_processor: CLIPImageProcessor
    embed_dim: int
    seed: int

    @property
    def image_size(self) -> int:
        """Side length in pixels of the vision tower's input (32)."""
        return int(self.vision.config.image_size)

    @property
    def max_text_length(self) -> int:
        """Number of tokens the text tower takes, BOS and EOS included (77)."""
        return int(self.tokenizer.model_max_length)


def build_tiny_clip(seed: int = 0) -> TinyClip:
    """Build the tiny CLIP with weights drawn from ``seed`` (same seed, same weights).

    The global torch RNG state is left untouched. Runs offline; takes a few tens of
    milliseconds.
    """
    check_seed(seed)
    with seeded(seed, "clip.vision"):
        vision = CLIPVisionModelWithProjection(tiny_vision_config())
    with seeded(seed, "clip.text"):
        text = CLIPTextModelWithProjection(tiny_text_config())
    return TinyClip(
        vision=vision.float().eval(),
        text=text.float().eval(),
        tokenizer=build_tiny_tokenizer(TINY_TEXT_LENGTH),
        image_processor=tiny_image_processor(),
        embed_dim=TINY_EMBED_DIM,
        seed=seed,
    )


def _check_images(images: Sequence[PIL.Image.Image]) -> list[PIL.Image.Image]:
    if isinstance(images, PIL.Image.Image) or not isinstance(images, Sequence) or not images:
        raise InputError("images", images, "expected a non-empty sequence of PIL images")
    for i, image in enumerate(images):
        if not isinstance(image, PIL.Image.Image):
            raise InputError("images", images, f"item {i} is a {type(image).__name__}, "
                                               "not a PIL image")
    return [image.convert("RGB") for image in images]


@torch.no_grad()
def raw_image_embeds(clip: TinyClip, images: Sequence[PIL.Image.Image]) -> torch.Tensor:
    """Raw (unnormalised) image embeddings of ``images`` by ``clip``'s image processor and
    vision tower: ``(N, D)`` float32 on the CPU."""
    checked = _check_images(images)
    pixels = clip.image_processor(images=checked, return_tensors="pt").pixel_values
    device = clip.vision.device
    embeds = clip.vision(pixel_values=pixels.to(device=device, dtype=clip.vision.dtype))
    return embeds.image_embeds.detach().float().cpu()


def image_embedding_stats(
    clip: TinyClip, images: Sequence[PIL.Image.Image] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation (unbiased, N - 1) of the raw image embeddings
    of ``images`` (default: :func:`~vslerp.tiny.images.reference_images`), computed in float64.

    Returns:
        ``(mean, std)``, each ``(1, D)`` float32: the layout of ``PriorTransformer.clip_mean``/
        ``clip_std`` and ``StableUnCLIPImageNormalizer.mean``/``std``.
    """
    embeds = raw_image_embeds(clip, reference_images() if images is None else images)
    if embeds.shape[0] < 2:
        raise InputError("images", images, "need at least 2 images for a standard deviation")
    wide = embeds.double()
    mean = wide.mean(dim=0, keepdim=True)
    std = wide.std(dim=0, keepdim=True, correction=1)
    return mean.float(), std.float()


def tiny_clip_model(clip: TinyClip) -> CLIPModel:
    """A ``CLIPModel`` holding ``clip``'s two towers (copies of their weights; logit scale at
    CLIP's initial ``log(1/0.07)``), in eval mode. The global torch RNG state is untouched."""
    config = CLIPConfig(
        text_config=clip.text.config.to_dict(),
        vision_config=clip.vision.config.to_dict(),
        projection_dim=clip.embed_dim,
    )
    with seeded(clip.seed, "clip.model"):
        model = CLIPModel(config)
    model.vision_model.load_state_dict(clip.vision.vision_model.state_dict())
    model.visual_projection.load_state_dict(clip.vision.visual_projection.state_dict())
    model.text_model.load_state_dict(clip.text.text_model.state_dict())
    model.text_projection.load_state_dict(clip.text.text_projection.state_dict())
    return model.float().eval()


def save_tiny_clip(directory: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write the tiny CLIP built from ``seed`` to ``directory`` in the standard transformers
    CLIP layout (see the module docstring) and return the directory.

    The folder is written next to ``directory`` and renamed into place, replacing an existing
    one in a single step.
    """
    target = check_directory(directory)
    check_seed(seed)
    clip = build_tiny_clip(seed)

    def write(folder: Path) -> None:
        tiny_clip_model(clip).save_pretrained(folder)
        save_tiny_tokenizer(clip.tokenizer, folder)
        clip.image_processor.save_pretrained(folder)

    return write_directory_atomic(target, write)
