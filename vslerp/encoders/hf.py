"""transformers CLIP encoders: ``hf:MODEL_ID_OR_DIR`` and the ``tiny`` CLIP.

Raw features are the projected CLIP embeddings *before* the L2 normalisation that
``CLIPModel.forward`` applies: ``visual_projection(vision_model(x).pooler_output)`` and
``text_projection(text_model(ids).pooler_output)``. They are read from the library's own
accessors: ``CLIPVisionModelWithProjection(...).image_embeds`` /
``CLIPTextModelWithProjection(...).text_embeds``, or ``CLIPModel.get_image_features`` /
``get_text_features`` — which return a tensor in transformers 4.x and a
``BaseModelOutputWithPooling`` whose ``pooler_output`` holds the projected, unnormalized
features in transformers 5.x (both handled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import PIL.Image
import torch

from vslerp.encoders.base import BaseEncoder, resolve_device, resolve_dtype
from vslerp.errors import InputError
from vslerp.hub import load_pretrained

__all__ = ["HFClipEncoder", "load_hf_encoder", "load_tiny_encoder"]

OFFLINE_HINT = "use '--encoder tiny' (Python: load_encoder('tiny')) for an offline run"


def _features(output: Any, attribute: str) -> torch.Tensor:
    """The feature tensor from a transformers call: the tensor itself (4.x accessors), the
    ``image_embeds``/``text_embeds`` field (``...WithProjection``) or ``pooler_output`` (5.x
    ``get_*_features``)."""
    if isinstance(output, torch.Tensor):
        return output
    value = getattr(output, attribute, None)
    if value is None:
        value = output.pooler_output
    return value


def _projection_dim(model: torch.nn.Module) -> int:
    return int(model.config.projection_dim)


class HFClipEncoder(BaseEncoder):
    """A transformers CLIP: a ``CLIPModel`` (both towers) or a
    ``CLIPVisionModelWithProjection`` and/or a ``CLIPTextModelWithProjection``.

    Args:
        vision: ``CLIPModel`` or ``CLIPVisionModelWithProjection``, or ``None`` (no images).
        text: ``CLIPModel`` or ``CLIPTextModelWithProjection``, or ``None`` (no texts).
        tokenizer: the CLIP tokenizer (required with ``text``); texts are padded/truncated to
            its ``model_max_length`` (77 for CLIP).
        image_processor: the ``CLIPImageProcessor`` (required with ``vision``).
        id: the encoder's spec.
        device / dtype: where and in which float type the towers run (moved there).
    """

    def __init__(self, *, vision: torch.nn.Module | None = None,
                 text: torch.nn.Module | None = None, tokenizer: Any = None,
                 image_processor: Any = None, id: str, device: Any = None,
                 dtype: Any = None) -> None:
        if vision is None and text is None:
            raise InputError("vision", vision, "need a vision or a text tower (or both)")
        if vision is not None and image_processor is None:
            raise InputError("image_processor", image_processor, "required with a vision tower")
        if text is not None and tokenizer is None:
            raise InputError("tokenizer", tokenizer, "required with a text tower")
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        dims = {_projection_dim(m) for m in (vision, text) if m is not None}
        if len(dims) != 1:
            raise InputError("text", text, f"towers project to different sizes {sorted(dims)}")
        self._vision = vision.to(device=dev, dtype=dt).eval() if vision is not None else None
        self._text = text.to(device=dev, dtype=dt).eval() if text is not None else None
        self._tokenizer = tokenizer
        self._processor = image_processor
        self._max_length = int(tokenizer.model_max_length) if tokenizer is not None else None
        preprocessing: dict[str, Any] = {"library": "transformers"}
        if image_processor is not None:
            preprocessing["image"] = {"class": type(image_processor).__name__,
                                      **image_processor.to_dict()}
        if tokenizer is not None:
            preprocessing["text"] = {"tokenizer": type(tokenizer).__name__,
                                     "max_length": self._max_length, "padding": "max_length",
                                     "truncation": True}
        modules = [m for m in (self._vision, self._text) if m is not None]
        modalities = [m for m, tower in (("image", vision), ("text", text)) if tower is not None]
        super().__init__(id=id, embed_dim=dims.pop(), preprocessing=preprocessing,
                         modules=modules, device=dev, dtype=dt, modalities=modalities)

    def _image_batch(self, images: list[PIL.Image.Image]) -> torch.Tensor:
        assert self._vision is not None
        pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        if hasattr(self._vision, "get_image_features"):  # CLIPModel
            return _features(self._vision.get_image_features(pixel_values=pixels),
                             "image_embeds")
        return _features(self._vision(pixel_values=pixels), "image_embeds")

    def _text_batch(self, texts: list[str]) -> torch.Tensor:
        assert self._text is not None
        tokens = self._tokenizer(texts, padding="max_length", truncation=True,
                                 max_length=self._max_length, return_tensors="pt")
        ids = tokens["input_ids"].to(self.device)
        mask = tokens["attention_mask"].to(self.device)
        if hasattr(self._text, "get_text_features"):  # CLIPModel
            return _features(self._text.get_text_features(input_ids=ids, attention_mask=mask),
                             "text_embeds")
        return _features(self._text(input_ids=ids, attention_mask=mask), "text_embeds")


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def load_hf_encoder(name: str, *, spec: str, device: Any = None, dtype: Any = None,
                    local_files_only: bool = False) -> HFClipEncoder:
    """Load ``hf:NAME``: a hub id (``openai/clip-vit-base-patch32``) or a local folder holding a
    ``CLIPModel`` (both towers) or a ``CLIPVisionModelWithProjection`` /
    ``CLIPTextModelWithProjection`` (one tower), with its tokenizer and/or image processor.

    Raises:
        InputError: a local-looking path that is not a folder, or a model that is not CLIP.
        ModelUnavailableError: offline and not cached, or the files cannot be loaded.
    """
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoTokenizer,
        CLIPModel,
        CLIPTextModelWithProjection,
        CLIPVisionModelWithProjection,
    )

    if not name:
        raise InputError("encoder", spec, "expected 'hf:MODEL_ID_OR_DIR'")
    local = Path(name).expanduser()
    if local.is_dir():
        name = str(local)
    elif _looks_like_path(name):
        raise InputError("encoder", spec, f"no such model folder: {local}")
    common: dict[str, Any] = {"what": "transformers CLIP model", "hint": OFFLINE_HINT,
                              "local_files_only": local_files_only}
    config = load_pretrained(AutoConfig.from_pretrained, name, probe_file="config.json", **common)
    model_type = getattr(config, "model_type", None)
    classes = {"clip": CLIPModel, "clip_vision_model": CLIPVisionModelWithProjection,
               "clip_text_model": CLIPTextModelWithProjection}
    if model_type not in classes:
        raise InputError("encoder", spec, f"'{name}' holds a {model_type!r} model; expected a "
                                          f"CLIP model (one of {', '.join(classes)})")
    model = load_pretrained(classes[model_type].from_pretrained, name,
                            probe_file="config.json", **common)
    vision = model if model_type in ("clip", "clip_vision_model") else None
    text = model if model_type in ("clip", "clip_text_model") else None
    tokenizer = (load_pretrained(AutoTokenizer.from_pretrained, name,
                                 probe_file="tokenizer_config.json", **common)
                 if text is not None else None)
    processor = (load_pretrained(AutoImageProcessor.from_pretrained, name,
                                 probe_file="preprocessor_config.json", **common)
                 if vision is not None else None)
    return HFClipEncoder(vision=vision, text=text, tokenizer=tokenizer,
                         image_processor=processor, id=spec, device=device, dtype=dtype)


def load_tiny_encoder(seed: int = 0, *, spec: str = "tiny", device: Any = None,
                      dtype: Any = None) -> HFClipEncoder:
    """The tiny CLIP of :mod:`vslerp.tiny.clip` (random weights from ``seed``, ``D = 32``,
    32 px images): the same :class:`HFClipEncoder` as ``hf:``, built from its components.
    Offline, a few tens of milliseconds."""
    from vslerp.tiny.clip import build_tiny_clip

    clip = build_tiny_clip(seed)
    return HFClipEncoder(vision=clip.vision, text=clip.text, tokenizer=clip.tokenizer,
                         image_processor=clip.image_processor, id=spec, device=device,
                         dtype=dtype)
