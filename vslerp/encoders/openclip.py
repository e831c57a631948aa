"""open_clip encoders: ``openclip:NAME/PRETRAINED``, ``openclip:hf-hub:ORG/REPO`` and
``openclip:local-dir:PATH``.

Raw features are ``model.encode_image(x, normalize=False)`` and
``model.encode_text(tokens, normalize=False)``. Preprocessing is open_clip's own evaluation
transform, built from the preprocess config it stores with the weights
(``model.visual.preprocess_cfg``), and the model's own tokenizer.

Weights come through open_clip's own hub download. Before that, :mod:`vslerp.hub` decides in
well under a second whether the hub can be used: offline (``HF_HUB_OFFLINE=1``,
``local_files_only=True`` or an unreachable hub), weights already in the Hugging Face cache are
loaded from there with no network access at all, and weights that are not cached fail at once
with a :class:`~vslerp.errors.ModelUnavailableError` naming the model, the cache and
``--encoder tiny``.

Note: open_clip >= 3 builds ``ViT-B-32`` with GELU even for the ``openai`` tag, whose weights
were trained with QuickGELU (it only warns about the mismatch). The tag's ``quick_gelu`` flag is
therefore passed on as ``force_quick_gelu``, so ``openclip:ViT-B-32/openai`` is the real OpenAI
model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import PIL.Image
import torch

from vslerp.encoders.base import BaseEncoder, resolve_device, resolve_dtype
from vslerp.errors import InputError, ModelUnavailableError
from vslerp.hub import hub_cache_dir, offline_requested, resolve_local_files_only

__all__ = ["OpenClipEncoder", "load_openclip_encoder", "resolve_openclip_weights"]

OFFLINE_HINT = "use '--encoder tiny' (Python: load_encoder('tiny')) for an offline run"
# open_clip's default weight names on the hub (safetensors first, as open_clip prefers it).
_HF_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_HF_CONFIG = "open_clip_config.json"


def _embed_dim(model: torch.nn.Module) -> int | None:
    dim = getattr(getattr(model, "visual", None), "output_dim", None)
    if isinstance(dim, int):
        return dim
    projection = getattr(model, "text_projection", None)
    if isinstance(projection, torch.Tensor) and projection.ndim == 2:
        return int(projection.shape[1])
    return None


class OpenClipEncoder(BaseEncoder):
    """An open_clip model with its evaluation transform and tokenizer.

    Args:
        model: an open_clip ``CLIP``/``CustomTextCLIP`` (any module with ``encode_image`` /
            ``encode_text`` taking ``normalize=``).
        preprocess: the evaluation image transform (PIL image -> ``(3, H, W)`` tensor).
        tokenizer: open_clip tokenizer (list of str -> ``(N, context_length)`` int tensor).
        id: the encoder's spec.
        device / dtype: where and in which float type the model runs (moved there).
    """

    def __init__(self, model: torch.nn.Module, preprocess: Any, tokenizer: Any, *, id: str,
                 device: Any = None, dtype: Any = None) -> None:
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        self._model = model.to(device=dev, dtype=dt).eval()
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        cfg = dict(getattr(getattr(model, "visual", None), "preprocess_cfg", {}) or {})
        preprocessing = {
            "library": "open_clip",
            "image": cfg,
            "transform": repr(preprocess),
            "text": {"tokenizer": type(tokenizer).__name__,
                     "context_length": getattr(tokenizer, "context_length", None)},
        }
        dim = _embed_dim(self._model)
        if dim is None:  # unusual tower: measure it
            with torch.inference_mode():
                probe = self._image_batch([PIL.Image.new("RGB", (8, 8), (128, 128, 128))])
            dim = int(probe.shape[-1])
        super().__init__(id=id, embed_dim=dim, preprocessing=preprocessing,
                         modules=[self._model], device=dev, dtype=dt)

    def _image_batch(self, images: list[PIL.Image.Image]) -> torch.Tensor:
        pixels = torch.stack([self._preprocess(image) for image in images])
        return self._model.encode_image(pixels.to(device=self.device, dtype=self.dtype),
                                        normalize=False)

    def _text_batch(self, texts: list[str]) -> torch.Tensor:
        tokens = self._tokenizer(texts).to(self.device)
        return self._model.encode_text(tokens, normalize=False)


def _cached(repo_id: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return found if isinstance(found, str) else None


def resolve_openclip_weights(name: str, tag: str, cfg: dict[str, Any], *, spec: str,
                             local_files_only: bool = False) -> str:
    """What to pass as open_clip's ``pretrained=`` for the registered tag ``name/tag``.

    Returns the tag itself when open_clip may download (hub reachable, not offline), or the
    path of the weights file in the cache when it must not. Raises
    :class:`ModelUnavailableError` (fast) when offline and the weights are not cached.
    """
    what = f"the weights of open_clip model '{name}/{tag}', hub repo"
    hub = str(cfg.get("hf_hub", "") or "")
    if hub:
        # open_clip's convention: 'org/repo/' (default file names) or 'org/repo/file.pt'.
        repo_id, filename = os.path.split(hub)
        candidates = [filename] if filename else list(_HF_WEIGHTS)
        if filename.endswith((".bin", ".pth")):  # open_clip looks for safetensors first
            candidates.insert(0, filename[:-4] + ".safetensors")
        cached = [c for c in candidates if _cached(repo_id, c)]
        probe = cached[0] if cached else candidates[0]
        offline = resolve_local_files_only(repo_id, probe_file=probe, what=what,
                                           hint=OFFLINE_HINT, local_files_only=local_files_only)
        if not offline:
            return tag
        path = _cached(repo_id, probe)
        assert path is not None  # resolve_local_files_only raised otherwise
        return path
    url = str(cfg.get("url", "") or "")
    if url:  # open_clip keeps URL downloads in ~/.cache/clip
        path = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if path.is_file():
            return str(path)
        if local_files_only or offline_requested():
            raise ModelUnavailableError(
                f"cannot load open_clip model '{name}/{tag}': offline mode is on and its "
                f"weights are not at {path}. "
                f"Download them once with network access, or {OFFLINE_HINT}."
            )
    return tag


def _hf_hub_source(repo_id: str, *, spec: str, local_files_only: bool) -> str:
    """``hf-hub:REPO`` when open_clip may download, else ``local-dir:<cached snapshot>``."""
    what = "open_clip model (openclip:hf-hub:) from hub repo"
    offline = resolve_local_files_only(repo_id, probe_file=_HF_CONFIG, what=what,
                                       hint=OFFLINE_HINT, local_files_only=local_files_only)
    if not offline:
        return f"hf-hub:{repo_id}"
    config = _cached(repo_id, _HF_CONFIG)
    assert config is not None
    snapshot = Path(config).parent
    if not any((snapshot / w).is_file() for w in _HF_WEIGHTS):
        raise ModelUnavailableError(
            f"cannot load open_clip model 'hf-hub:{repo_id}': its config is in the Hugging Face "
            f"cache at {hub_cache_dir()} "
            f"but its weights ({' or '.join(_HF_WEIGHTS)}) are not, and the hub cannot be used. "
            f"Download them once with network access, or {OFFLINE_HINT}."
        )
    return f"local-dir:{snapshot}"


def load_openclip_encoder(rest: str, *, spec: str, device: Any = None, dtype: Any = None,
                          local_files_only: bool = False) -> OpenClipEncoder:
    """Load ``openclip:REST`` where ``REST`` is ``NAME/PRETRAINED`` (a registered tag or a
    checkpoint file path, e.g. ``ViT-B-32/openai`` or ``ViT-B-32//data/ckpt.safetensors``),
    ``hf-hub:ORG/REPO`` or ``local-dir:PATH``.

    Raises:
        InputError: malformed spec, unknown model name or tag.
        ModelUnavailableError: offline and not cached, or open_clip cannot build/load it.
    """
    import open_clip

    kwargs: dict[str, Any] = {}
    if rest.startswith("hf-hub:"):
        repo_id = rest[len("hf-hub:"):]
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise InputError("encoder", spec, "expected 'openclip:hf-hub:ORG/REPO'")
        model_name = _hf_hub_source(repo_id, spec=spec, local_files_only=local_files_only)
        tokenizer_name = model_name
    elif rest.startswith("local-dir:"):
        folder = Path(rest[len("local-dir:"):]).expanduser()
        if not (folder / _HF_CONFIG).is_file():
            raise InputError("encoder", spec, f"expected a folder holding {_HF_CONFIG}")
        model_name = tokenizer_name = f"local-dir:{folder}"
    else:
        name, sep, tag = rest.partition("/")
        if not sep or not name or not tag:
            raise InputError("encoder", spec, "expected 'openclip:NAME/PRETRAINED' (e.g. "
                                              "'openclip:ViT-B-32/openai'), "
                                              "'openclip:hf-hub:ORG/REPO' or "
                                              "'openclip:local-dir:PATH'")
        if name not in open_clip.list_models():
            import difflib

            close = difflib.get_close_matches(name, open_clip.list_models(), n=5)
            raise InputError("encoder", spec, f"unknown open_clip model {name!r}"
                             + (f"; did you mean {', '.join(close)}?" if close else ""))
        model_name = tokenizer_name = name
        if Path(tag).expanduser().is_file():
            kwargs["pretrained"] = str(Path(tag).expanduser())
        else:
            cfg = open_clip.get_pretrained_cfg(name, tag)
            if not cfg:
                tags = open_clip.list_pretrained_tags_by_model(name)
                raise InputError("encoder", spec,
                                 f"{tag!r} is neither a pretrained tag of {name} "
                                 f"({', '.join(tags) or 'none registered'}) nor a checkpoint "
                                 f"file")
            kwargs["pretrained"] = resolve_openclip_weights(
                name, tag, cfg, spec=spec, local_files_only=local_files_only)
            # The tag's activation and preprocessing, also when loading a cached file.
            kwargs["force_quick_gelu"] = bool(cfg.get("quick_gelu", False))
            kwargs.update(image_mean=cfg.get("mean"), image_std=cfg.get("std"),
                          image_interpolation=cfg.get("interpolation"),
                          image_resize_mode=cfg.get("resize_mode"))
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, **kwargs)
        tokenizer = open_clip.get_tokenizer(tokenizer_name)
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise ModelUnavailableError(
            f"cannot load open_clip model '{rest}': {err}. Cache: {hub_cache_dir()}. "
            f"Alternatively, {OFFLINE_HINT}."
        ) from err
    return OpenClipEncoder(model, preprocess, tokenizer, id=spec, device=device, dtype=dtype)
