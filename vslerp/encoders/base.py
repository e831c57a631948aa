"""The :class:`Encoder` contract and the shared batching/validation/progress machinery.

Every evaluator encoder maps PIL images and/or strings to RAW (unnormalized) embeddings,
``(N, D) float32`` numpy arrays. :class:`BaseEncoder` does everything that is common —
argument checks, batching, ``torch.inference_mode()``, the tqdm progress bar, the cast to
float32 and the NaN/Inf check — so a backend implements only "one batch -> ``(B, D)`` tensor"
(:meth:`BaseEncoder._image_batch` / :meth:`BaseEncoder._text_batch`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import PIL.Image
import torch
from tqdm.auto import tqdm

from vslerp.errors import InputError, VslerpError
from vslerp.imaging import load_image

__all__ = [
    "BaseEncoder",
    "Encoder",
    "UnsupportedModalityError",
    "check_batch_size",
    "check_images",
    "check_texts",
    "json_safe",
    "resolve_device",
    "resolve_dtype",
]

MODALITIES = ("image", "text")
_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}
T = TypeVar("T")


class UnsupportedModalityError(VslerpError):
    """An encoder was asked for a modality it has no tower for (e.g. images from a
    sentence-transformers text model)."""


@runtime_checkable
class Encoder(Protocol):
    """What every evaluator encoder provides.

    Attributes:
        id: the spec the encoder was loaded from (``"openclip:ViT-B-32/openai"``, ``"tiny"``,
            ...); :func:`vslerp.encoders.load_encoder` accepts it back.
        embed_dim: ``D``, the embedding dimension.
        modalities: the subset of ``{"image", "text"}`` the encoder has towers for.
        preprocessing: JSON-serialisable description of the input preprocessing (image size,
            mean/std, interpolation, crop, tokenizer and context length, ...). It is part of
            job fingerprints: a change in it invalidates cached embeddings.
        dtype: the model's ``torch.dtype`` (outputs are float32 whatever it is).
    Methods:
        weights_digest(): SHA-256 of the weights (names, dtypes, shapes, bytes), computed once;
            part of job fingerprints.
    """

    id: str
    embed_dim: int
    modalities: frozenset[str]
    preprocessing: dict[str, Any]
    dtype: torch.dtype

    def weights_digest(self) -> str:
        """SHA-256 hex digest of the weights."""
        ...

    def encode_images(self, images: Sequence[PIL.Image.Image], *, batch_size: int = 32,
                      progress: bool = False) -> np.ndarray:
        """RAW image embeddings, ``(N, D)`` float32."""
        ...

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 64,
                     progress: bool = False) -> np.ndarray:
        """RAW text embeddings, ``(N, D)`` float32."""
        ...


# --------------------------------------------------------------------------------------------
# Argument checks shared by every backend


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int:
    """A positive ``int`` (bools refused). Returns it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise InputError(name, batch_size, "expected a positive int")
    return int(batch_size)


def check_images(images: Any, name: str = "images") -> list[PIL.Image.Image]:
    """A non-empty sequence of PIL images, returned as a list of RGB images.

    Images in another mode are normalised like loaded files (:func:`vslerp.imaging.load_image`:
    transparency composited on white, 16-bit scaled); RGB images are passed through as they are.
    """
    if isinstance(images, PIL.Image.Image):
        raise InputError(name, images, "expected a sequence of PIL images; wrap a single image "
                                       "in a list")
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        raise InputError(name, images, "expected a sequence of PIL images (load files with "
                                       "vslerp.imaging.load_image first)")
    if len(images) == 0:
        raise InputError(name, images, "is empty; expected at least one image")
    out: list[PIL.Image.Image] = []
    for i, image in enumerate(images):
        if not isinstance(image, PIL.Image.Image):
            raise InputError(f"{name}[{i}]", image,
                             f"expected a PIL image, got {type(image).__name__}")
        if image.width == 0 or image.height == 0:
            raise InputError(f"{name}[{i}]", image,
                             f"has no pixels ({image.width}x{image.height})")
        out.append(image if image.mode == "RGB" else load_image(image, name=f"{name}[{i}]"))
    return out


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """A non-empty sequence of non-blank strings, returned as a list."""
    if isinstance(texts, (str, bytes)):
        raise InputError(name, texts, "expected a sequence of strings; wrap a single string in "
                                      "a list")
    if not isinstance(texts, Sequence):
        raise InputError(name, texts, "expected a sequence of strings")
    if len(texts) == 0:
        raise InputError(name, texts, "is empty; expected at least one string")
    out: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"{name}[{i}]", text, f"expected a str, got {type(text).__name__}")
        if not text.strip():
            raise InputError(f"{name}[{i}]", text, "is empty (or only whitespace)")
        out.append(text)
    return out


def resolve_device(device: Any) -> torch.device:
    """``None`` -> CUDA when available, else CPU; a ``str``/``torch.device`` is checked."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        return device
    if isinstance(device, str):
        try:
            return torch.device(device)
        except (RuntimeError, ValueError) as err:
            raise InputError("device", device, f"not a torch device ({err})") from err
    raise InputError("device", device, "expected None, a str such as 'cpu'/'cuda:0', or a "
                                       "torch.device")


def resolve_dtype(dtype: Any) -> torch.dtype:
    """``None`` -> float32; a ``torch.dtype`` among float32/float16/bfloat16, or one of the
    names ``float32``/``fp32``, ``float16``/``fp16``/``half``, ``bfloat16``/``bf16``."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float16, torch.bfloat16):
            return dtype
    elif isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in _DTYPES:
        return _DTYPES[dtype.lower().removeprefix("torch.")]
    raise InputError("dtype", dtype, "expected None, torch.float32/float16/bfloat16 or one of "
                                     f"{', '.join(_DTYPES)}")


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: tuples -> lists, enums -> their name, numpy scalars ->
    Python numbers, dict keys -> str; anything else unknown -> ``str(value)``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return str(value)


def _modules_digest(modules: Sequence[torch.nn.Module]) -> str:
    digest = hashlib.sha256()
    seen: set[int] = set()
    for module in modules:
        if id(module) in seen:
            continue
        seen.add(id(module))
        for name, tensor in module.state_dict().items():
            flat = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(f"{name}\0{flat.dtype}\0{tuple(tensor.shape)}\0".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# The shared base class


class BaseEncoder:
    """Batching, validation and progress for every backend.

    Subclasses pass their attributes to ``__init__`` and override :meth:`_image_batch` and/or
    :meth:`_text_batch` (each gets a non-empty, validated list and returns a ``(B, D)`` tensor of
    raw features on any device, in any float dtype). ``modalities`` defaults to the overridden
    ones; the others are refused with :class:`UnsupportedModalityError`.
    """

    def __init__(self, *, id: str, embed_dim: int, preprocessing: dict[str, Any],
                 modules: Sequence[torch.nn.Module], device: torch.device,
                 dtype: torch.dtype, modalities: Iterable[str] | None = None) -> None:
        self.id = id
        self.embed_dim = int(embed_dim)
        self.preprocessing = json_safe(preprocessing)
        json.dumps(self.preprocessing, allow_nan=False)  # must be JSON (part of fingerprints)
        self.device = device
        self.dtype = dtype
        self._modules = list(modules)
        self._weights_digest: str | None = None
        overridden = frozenset(
            m for m, hook in (("image", "_image_batch"), ("text", "_text_batch"))
            if getattr(type(self), hook) is not getattr(BaseEncoder, hook)
        )
        self.modalities = overridden if modalities is None else frozenset(modalities)
        if not self.modalities or not self.modalities <= overridden:
            raise InputError("modalities", modalities,
                             f"expected a non-empty subset of {sorted(overridden)}")
        # How load_encoder built this encoder (lets a runner rebuild it elsewhere).
        self.load_options: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(id={self.id!r}, embed_dim={self.embed_dim}, "
                f"modalities={sorted(self.modalities)}, device={self.device}, "
                f"dtype={str(self.dtype).removeprefix('torch.')})")

    def weights_digest(self) -> str:
        """SHA-256 hex digest of every weight tensor (names, dtypes, shapes and bytes),
        computed on the first call (about a second per 150M parameters) and remembered."""
        if self._weights_digest is None:
            self._weights_digest = _modules_digest(self._modules)
        return self._weights_digest

    # -- backends override these -------------------------------------------------------------

    def _image_batch(self, images: list[PIL.Image.Image]) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - refused in encode_images

    def _text_batch(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - refused in encode_texts

    # -- public API --------------------------------------------------------------------------

    def encode_images(self, images: Sequence[PIL.Image.Image], *, batch_size: int = 32,
                      progress: bool = False) -> np.ndarray:
        """Raw (unnormalized) image embeddings.

        Args:
            images: ``N >= 1`` PIL images (load files with :func:`vslerp.imaging.load_image`;
                non-RGB images are normalised the same way).
            batch_size: images per forward pass.
            progress: show a tqdm progress bar.

        Returns:
            ``(N, D)`` float32 numpy array, row ``i`` for ``images[i]``.

        Raises:
            UnsupportedModalityError: the encoder has no image tower.
            InputError: not a sequence, empty, an item that is not a PIL image or has no pixels,
                or a bad ``batch_size``.
            VslerpError: the model produced NaN/Inf (e.g. float16 overflow).
        """
        self._require("image")
        checked = check_images(images)
        return self._run(checked, check_batch_size(batch_size), self._image_batch,
                         progress, "image")

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 64,
                     progress: bool = False) -> np.ndarray:
        """Raw (unnormalized) text embeddings.

        Args:
            texts: ``N >= 1`` non-blank strings (any Unicode; nothing is interpreted).
                Texts longer than the model's context are truncated by its tokenizer.
            batch_size: texts per forward pass.
            progress: show a tqdm progress bar.

        Returns:
            ``(N, D)`` float32 numpy array, row ``i`` for ``texts[i]``.

        Raises:
            UnsupportedModalityError: the encoder has no text tower.
            InputError: a single string, an empty sequence, a non-string or blank item, or a
                bad ``batch_size``.
            VslerpError: the model produced NaN/Inf.
        """
        self._require("text")
        checked = check_texts(texts)
        return self._run(checked, check_batch_size(batch_size), self._text_batch,
                         progress, "text")

    # -- internals ---------------------------------------------------------------------------

    def _require(self, modality: str) -> None:
        if modality not in self.modalities:
            have = " and ".join(sorted(self.modalities)) or "nothing"
            raise UnsupportedModalityError(
                f"encoder '{self.id}' has no {modality} tower: it encodes {have} only. "
                f"Use an encoder with a {modality} tower (e.g. 'openclip:ViT-B-32/openai' "
                f"or 'tiny')."
            )

    def _run(self, items: list[T], batch_size: int, batch_fn: Callable[[list[T]], torch.Tensor],
             progress: bool, unit: str) -> np.ndarray:
        n = len(items)
        out = np.empty((n, self.embed_dim), dtype=np.float32)
        with tqdm(total=n, unit=unit, desc=f"encoding {unit}s", disable=not progress,
                  leave=True) as bar, torch.inference_mode():
            for start in range(0, n, batch_size):
                batch = items[start:start + batch_size]
                features = batch_fn(batch)
                if tuple(features.shape) != (len(batch), self.embed_dim):
                    raise VslerpError(
                        f"encoder '{self.id}' returned shape {tuple(features.shape)} for a batch "
                        f"of {len(batch)}; expected ({len(batch)}, {self.embed_dim})"
                    )
                out[start:start + len(batch)] = features.detach().to("cpu", torch.float32).numpy()
                bar.update(len(batch))
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise VslerpError(
                f"encoder '{self.id}' produced NaN/Inf for {bad.size} {unit}(s) (first: "
                f"{', '.join(str(i) for i in bad[:5])}) in {self.dtype!s}; try dtype float32"
            )
        return out
