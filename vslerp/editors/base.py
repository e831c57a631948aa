"""The one editor contract shared by every unCLIP-family backend, and its base implementation.

An *editor* wraps a decoder that turns a raw CLIP image embedding into an image, together with
the image encoder that produced such embeddings in training:

* :meth:`Editor.embed_images` — images → raw image embeddings ``(N, D)`` float32 (what the
  decoder consumes), cached by image content so the same picture is never encoded twice;
* :meth:`Editor.embed_prompts` — prompts → image embeddings through the backend's diffusion
  prior (Kandinsky 2.2, Karlo), cached by ``(prompt, seed)``; backends without a prior refuse;
* :meth:`Editor.decode` — image embeddings → images. **Every row is decoded from the same
  noise**: the initial noise is drawn once from ``torch.Generator("cpu").manual_seed(seed)``
  and repeated for every row, and each row gets its own CPU generator seeded with ``seed`` for
  the scheduler's per-step noise. A row therefore decodes exactly as it would alone, through the
  backend's diffusers pipeline called with the same latents and ``generator=seed``, whatever the
  batch it lands in; the instance (layout, colours) is shared across rows;
* :meth:`Editor.image_mean` — the image-modality mean ``m`` of the backend's image encoder, the
  centre vSLERP interpolates around.

:class:`BaseEditor` implements all of this once; a backend supplies its components and four
hooks: the shapes of its initial noise, its output size rule, one batched pipeline call and its
built-in mean. Embeddings cross this API as CPU float32 numpy arrays; they are cast to the
model's device and dtype (float16 on CUDA by default) only at the pipeline call.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from vslerp.errors import InputError
from vslerp.fileio import check_embeddings
from vslerp.imaging import ImageSource, find_images, image_digest, load_image
from vslerp.means import MeanAccumulator, ModalityMean

__all__ = [
    "DECODE_OUTPUTS",
    "BaseEditor",
    "Editor",
    "EditorOutput",
    "MeanSpec",
    "ProgressFn",
    "check_guidance",
    "check_positive_int",
    "check_seed",
    "describe_mean_spec",
    "resolve_device",
    "resolve_dtype",
    "resolve_mean",
]

EditorOutput = Literal["pil", "latent"]
DECODE_OUTPUTS: tuple[str, ...] = ("pil", "latent")

ProgressFn = Callable[[int, int], object]
"""``progress(done, total)``: called after each decoded batch with the rows done so far."""

MeanSpec = ModalityMean | str | os.PathLike | np.ndarray | torch.Tensor | None
"""What ``mean=`` accepts: a :class:`~vslerp.means.ModalityMean`, a ``.safetensors`` mean file,
a folder of images (mean of the editor's own embeddings of them), a ``(D,)`` array, or ``None``
for the backend's built-in mean."""

_MAX_SEED = 2**63 - 1
_CACHE_SIZE = 4096
_ENCODE_BATCH = 16


# --------------------------------------------------------------------------------------------
# Argument checks shared by editors and grids


def check_seed(seed: Any, name: str = "seed") -> int:
    """A plain non-negative ``int`` below 2**63."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= int(seed) <= _MAX_SEED:
        raise InputError(name, seed, f"expected an int in [0, {_MAX_SEED}]")
    return int(seed)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise InputError(name, value, "expected a positive int")
    return int(value)


def check_guidance(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or float(value) < 0:
        raise InputError("guidance", value, "expected a finite number >= 0 (<= 1 turns "
                                            "classifier-free guidance off)")
    return float(value)


def _check_size(value: Any, name: str, multiple: int) -> int:
    size = check_positive_int(value, name)
    if size % multiple:
        raise InputError(name, value, f"must be a multiple of {multiple} for this backend")
    return size


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → ``cuda`` when available, else ``cpu``; strings are checked."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError("device", device, f"not a torch device: {err}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device", device, "CUDA is not available on this machine")
    return resolved


_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` → float16 on CUDA, float32 elsewhere; names like ``"fp16"`` are accepted."""
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise InputError("dtype", dtype, "expected float16, bfloat16 or float32")
        return dtype
    if isinstance(dtype, str) and dtype.strip().lower().removeprefix("torch.") in _DTYPES:
        return _DTYPES[dtype.strip().lower().removeprefix("torch.")]
    raise InputError("dtype", dtype, "expected float16, bfloat16 or float32")


# --------------------------------------------------------------------------------------------
# Means


def describe_mean_spec(spec: MeanSpec) -> str | None:
    """A one-line provenance for a user-given mean (``None`` for the built-in one)."""
    if spec is None:
        return None
    if isinstance(spec, ModalityMean):
        return f"given ModalityMean ({spec.source or spec.encoder})"
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        return f"{'folder' if path.is_dir() else 'file'} {path}"
    return "given (D,) array"


def _folder_mean(folder: Path, editor: Editor) -> ModalityMean:
    paths = find_images(folder)
    if not paths:
        raise InputError("mean", str(folder), "folder holds no images (png, jpg, webp, ...)")
    acc = MeanAccumulator(editor.embed_dim)
    skipped: list[str] = []
    for start in range(0, len(paths), _ENCODE_BATCH):
        images = []
        for path in paths[start:start + _ENCODE_BATCH]:
            try:
                images.append(load_image(path))
            except InputError as err:
                skipped.append(f"{path.name}: {err.problem}")
        if images:
            acc.update(editor.embed_images(images))
    if acc.count == 0:
        raise InputError("mean", str(folder), f"none of its {len(paths)} images could be read")
    if skipped:
        warnings.warn(f"mean folder {folder}: skipped {len(skipped)} unreadable image(s): "
                      + "; ".join(skipped[:5]), stacklevel=3)
    return acc.compute(encoder=editor.encoder_id, modality="image",
                       source=f"folder {folder} ({acc.count} images)")


def resolve_mean(spec: MeanSpec, editor: Editor) -> ModalityMean:
    """Turn a ``mean=`` argument into a :class:`ModalityMean` of dimension ``editor.embed_dim``.

    ``None`` gives ``editor.image_mean()``; a folder is embedded with ``editor.embed_images``
    and averaged with :class:`~vslerp.means.MeanAccumulator` (unreadable files are skipped with
    a warning); a file is read with :meth:`ModalityMean.load`.
    """
    if spec is None:
        return editor.image_mean()
    dim = editor.embed_dim
    if isinstance(spec, ModalityMean):
        mean = spec
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.is_dir():
            return _folder_mean(path, editor)
        if not path.exists():
            raise InputError("mean", str(path), "no such file or folder")
        mean = ModalityMean.load(path, dim=dim)
    elif isinstance(spec, (np.ndarray, torch.Tensor)):
        mean = ModalityMean(mean=spec, encoder=editor.encoder_id, modality="image",
                            source="given (D,) array")
    else:
        raise InputError("mean", spec, "expected a ModalityMean, a .safetensors mean file, a "
                                       "folder of images or a (D,) array")
    if mean.dim != dim:
        raise InputError("mean", spec, f"has dimension D={mean.dim}; {editor.id}'s image "
                                       f"embeddings have D={dim}")
    return mean


# --------------------------------------------------------------------------------------------
# The contract


@runtime_checkable
class Editor(Protocol):
    """What every generative-editing backend offers (see the module docstring).

    Attributes:
        id: backend id as given to :func:`~vslerp.editors.load_editor` (``"kandinsky-2.2"``).
        revision: hub revision of the decoder repository, or ``None`` (default branch).
        embed_dim: ``D``, the image-embedding dimension.
        device, dtype: where and in which precision the models run.
        mean_source: provenance of the image mean (for manifests).
        encoder_id: id of the image encoder (recorded in computed means).
    """

    id: str
    revision: str | None
    embed_dim: int
    device: torch.device
    dtype: torch.dtype
    mean_source: str
    encoder_id: str

    def embed_images(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Raw image embeddings ``(N, D)`` float32 of paths / PIL images / uint8 arrays."""
        ...

    def embed_prompts(self, prompts: Sequence[str], *, seed: int = 0) -> np.ndarray:
        """Image embeddings ``(N, D)`` float32 the prior draws for ``prompts`` with ``seed``."""
        ...

    def decode(self, image_embeds: np.ndarray | torch.Tensor, *, seed: int = 0, steps: int = 25,
               guidance: float = 4.0, height: int | None = None, width: int | None = None,
               batch_size: int = 4, output: EditorOutput = "pil",
               progress: ProgressFn | None = None) -> list[Image.Image] | torch.Tensor:
        """Decode ``(N, D)`` embeddings, every row from the same noise; ``N`` PIL images, or
        the final ``(N, ...)`` float32 CPU tensor for ``output="latent"``."""
        ...

    def image_mean(self) -> ModalityMean:
        """The image-modality mean vSLERP interpolates around."""
        ...

    def output_size(self, height: int | None = None,
                    width: int | None = None) -> tuple[int, int]:
        """The ``(height, width)`` in pixels that :meth:`decode` produces for these arguments."""
        ...


# --------------------------------------------------------------------------------------------
# The base implementation


class _LRU:
    """A small least-recently-used cache of ``(D,)`` float32 vectors."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get(self, key: Hashable) -> np.ndarray | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: np.ndarray) -> None:
        value = np.array(value, dtype=np.float32)
        value.setflags(write=False)
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class BaseEditor:
    """Everything editors share; backends subclass it and implement the four hooks
    :meth:`_noise_shapes`, :meth:`output_size`, :meth:`_decode_batch` and :meth:`_builtin_mean`.

    Args:
        id: backend id.
        revision: hub revision of the decoder repository (``None``: default branch).
        device, dtype: resolved torch device and dtype the components already live on.
        image_encoder: a ``CLIPVisionModelWithProjection`` (``.image_embeds`` are the raw
            embeddings the decoder was trained on).
        image_processor: the ``CLIPImageProcessor`` matching it.
        encoder_id: id recorded in computed means (repository/subfolder of the encoder).
        builtin_mean_source: provenance of the built-in mean, used when ``mean`` is ``None``.
        mean: a user mean (see :data:`MeanSpec`) replacing the built-in one.
        prior_factory: builds the ``KandinskyV22PriorPipeline``-style prior on first use
            (``None``: this backend cannot embed prompts).
        prior_steps, prior_guidance: settings of the prior's sampling loop.
    """

    prior_steps: int = 25
    prior_guidance: float = 4.0
    min_steps: int = 1
    """Fewest denoising steps the backend's schedulers can run."""

    def __init__(
        self,
        *,
        id: str,
        revision: str | None,
        device: torch.device,
        dtype: torch.dtype,
        image_encoder: Any,
        image_processor: Any,
        encoder_id: str,
        builtin_mean_source: str,
        mean: MeanSpec = None,
        prior_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.id = id
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.image_encoder = image_encoder
        self.image_processor = image_processor
        self.encoder_id = encoder_id
        self.embed_dim = int(image_encoder.config.projection_dim)
        self._mean_spec = mean
        self.mean_source = describe_mean_spec(mean) or builtin_mean_source
        self._mean: ModalityMean | None = None
        self._prior_factory = prior_factory
        self._prior: Any = None
        self._image_cache = _LRU(_CACHE_SIZE)
        self._prompt_cache = _LRU(_CACHE_SIZE)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(id={self.id!r}, D={self.embed_dim}, "
                f"device={self.device}, dtype={self.dtype}, mean_source={self.mean_source!r})")

    # ------------------------------------------------------------------------------ hooks

    def _noise_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
        """Per-row shapes of the initial noise tensors, in the order they are drawn."""
        raise NotImplementedError

    def output_size(self, height: int | None = None,
                    width: int | None = None) -> tuple[int, int]:
        """Validated ``(height, width)`` of decoded images (defaults filled in)."""
        raise NotImplementedError

    def _decode_batch(self, embeds: torch.Tensor, noise: dict[str, torch.Tensor],
                      generators: list[torch.Generator], *, steps: int, guidance: float,
                      height: int, width: int, latent: bool) -> list[Image.Image] | torch.Tensor:
        """One pipeline call on ``(B, D)`` embeddings (model device/dtype) with ``(B, ...)``
        noise and ``B`` per-row generators."""
        raise NotImplementedError

    def _builtin_mean(self) -> ModalityMean:
        """The backend's own image mean, or an :class:`InputError` saying to pass ``mean=``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ means

    def image_mean(self) -> ModalityMean:
        """The image-modality mean: ``mean=`` when given (a folder is embedded on first use),
        else the backend's built-in one. Computed once and cached."""
        if self._mean is None:
            self._mean = (self._builtin_mean() if self._mean_spec is None
                          else resolve_mean(self._mean_spec, self))
        return self._mean

    # ------------------------------------------------------------------------------ embedding

    @torch.no_grad()
    def _encode_pixels(self, images: list[Image.Image]) -> np.ndarray:
        pixels = self.image_processor(images=images, return_tensors="pt").pixel_values
        param = next(self.image_encoder.parameters())
        out = self.image_encoder(pixel_values=pixels.to(self.device, param.dtype))
        return out.image_embeds.detach().float().cpu().numpy()

    def embed_images(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Raw image embeddings, ``(N, D)`` float32, in input order.

        Args:
            images: a non-empty sequence of image paths, PIL images, uint8 arrays or encoded
                bytes; each is loaded with :func:`vslerp.imaging.load_image` (EXIF, RGB).

        Images are keyed by :func:`vslerp.imaging.image_digest` of the loaded pixels: an image
        seen before (in this call or an earlier one) is not encoded again.
        """
        if isinstance(images, (str, bytes, os.PathLike, Image.Image, np.ndarray)) \
                or not isinstance(images, Sequence) or len(images) == 0:
            raise InputError("images", images, "expected a non-empty sequence (list) of images")
        loaded = [load_image(item, name=f"images[{i}]") for i, item in enumerate(images)]
        keys = [image_digest(img) for img in loaded]
        missing: dict[str, Image.Image] = {}
        for key, img in zip(keys, loaded, strict=True):
            if self._image_cache.get(key) is None and key not in missing:
                missing[key] = img
        todo = list(missing.items())
        for start in range(0, len(todo), _ENCODE_BATCH):
            chunk = todo[start:start + _ENCODE_BATCH]
            vectors = self._encode_pixels([img for _, img in chunk])
            for (key, _), vec in zip(chunk, vectors, strict=True):
                self._image_cache.put(key, vec)
        found: list[np.ndarray] = []
        for key in keys:
            vec = self._image_cache.get(key)
            if vec is None:  # evicted by this very call (more new images than the cache holds)
                vec = self._encode_pixels([missing[key]])[0]
            found.append(vec)
        return np.stack(found).astype(np.float32, copy=False)

    def _prior_pipeline(self) -> Any:
        if self._prior_factory is None:
            raise InputError("prompts", None, f"the {self.id} backend has no prior that maps "
                                              "text to an image embedding; use images as "
                                              "endpoints, or a backend with a prior "
                                              "(kandinsky-2.2, karlo, tiny)")
        if self._prior is None:
            self._prior = self._prior_factory()
            self._prior.set_progress_bar_config(disable=True)
        return self._prior

    def embed_prompts(self, prompts: Sequence[str], *, seed: int = 0) -> np.ndarray:
        """Image embeddings the backend's prior draws for ``prompts``: ``(N, D)`` float32.

        Each prompt is sampled alone with ``torch.Generator("cpu").manual_seed(seed)`` (so the
        result does not depend on the other prompts) for :attr:`prior_steps` steps at guidance
        :attr:`prior_guidance`; results are cached by ``(prompt, seed)``. The prior is loaded on
        first use.

        Raises:
            InputError: no prior on this backend, or empty/non-string prompts.
        """
        if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
            raise InputError("prompts", prompts, "expected a non-empty sequence (list) of strings")
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                raise InputError(f"prompts[{i}]", prompt, "expected a non-empty string")
        seed = check_seed(seed)
        prior = self._prior_pipeline()
        rows = []
        for prompt in prompts:
            vec = self._prompt_cache.get((prompt, seed))
            if vec is None:
                out = prior(prompt, generator=torch.Generator("cpu").manual_seed(seed),
                            num_inference_steps=self.prior_steps,
                            guidance_scale=self.prior_guidance, output_type="pt")
                vec = out.image_embeds[0].detach().float().cpu().numpy()
                self._prompt_cache.put((prompt, seed), vec)
            rows.append(vec)
        return np.stack(rows).astype(np.float32, copy=False)

    # ------------------------------------------------------------------------------ decoding

    def _check_embeds(self, image_embeds: Any) -> np.ndarray:
        value = image_embeds
        if isinstance(value, torch.Tensor):
            value = value.detach().float().cpu().numpy()
        arr = np.asarray(value)
        if arr.ndim == 1:
            arr = arr[None, :]
        try:
            return check_embeddings(arr, name="image_embeds", dim=self.embed_dim).astype(
                np.float32, copy=False)
        except InputError as err:
            raise InputError("image_embeds", image_embeds, err.problem) from None

    def initial_noise(self, seed: int, height: int, width: int) -> dict[str, torch.Tensor]:
        """The shared initial noise: each tensor ``(1, ...)`` float32 on the CPU, drawn in
        order from one ``torch.Generator("cpu").manual_seed(seed)``."""
        generator = torch.Generator("cpu").manual_seed(check_seed(seed))
        return {name: torch.randn((1, *shape), generator=generator, dtype=torch.float32)
                for name, shape in self._noise_shapes(height, width).items()}

    def decode(self, image_embeds: np.ndarray | torch.Tensor, *, seed: int = 0, steps: int = 25,
               guidance: float = 4.0, height: int | None = None, width: int | None = None,
               batch_size: int = 4, output: EditorOutput = "pil",
               progress: ProgressFn | None = None) -> list[Image.Image] | torch.Tensor:
        """Decode image embeddings, every row from the same noise.

        Args:
            image_embeds: ``(N, D)`` (or ``(D,)``) raw image embeddings, numpy or torch, finite.
            seed: seeds the shared initial noise and each row's per-step noise (see the module
                docstring): row ``i`` decodes as it would alone with ``seed``.
            steps: denoising steps (>= 1).
            guidance: classifier-free guidance scale (> 1 turns guidance on).
            height, width: output size in pixels (``None``: the backend's default; see
                :meth:`output_size`).
            batch_size: rows per pipeline call (>= 1); does not change the result.
            output: ``"pil"`` for a list of ``N`` RGB images, ``"latent"`` for the final
                denoised ``(N, C, h, w)`` float32 CPU tensor before the image decoder (pixel
                space in [0, 1] for pixel-space backends such as Karlo).
            progress: ``progress(done, total)`` after every batch.
        """
        embeds = self._check_embeds(image_embeds)
        seed = check_seed(seed)
        steps = check_positive_int(steps, "steps")
        if steps < self.min_steps:
            raise InputError("steps", steps, f"{self.id} needs steps >= {self.min_steps}")
        guidance = check_guidance(guidance)
        batch_size = check_positive_int(batch_size, "batch_size")
        if output not in DECODE_OUTPUTS:
            raise InputError("output", output, f"expected one of {DECODE_OUTPUTS}")
        if progress is not None and not callable(progress):
            raise InputError("progress", progress, "expected a callable progress(done, total)")
        height, width = self.output_size(height, width)
        noise = self.initial_noise(seed, height, width)
        total = embeds.shape[0]
        images: list[Image.Image] = []
        latents: list[torch.Tensor] = []
        for start in range(0, total, batch_size):
            chunk = torch.from_numpy(embeds[start:start + batch_size])
            rows = chunk.shape[0]
            batch_noise = {name: n.repeat(rows, *([1] * (n.ndim - 1))).to(self.device, self.dtype)
                           for name, n in noise.items()}
            generators = [torch.Generator("cpu").manual_seed(seed) for _ in range(rows)]
            result = self._decode_batch(chunk.to(self.device, self.dtype), batch_noise,
                                        generators, steps=steps, guidance=guidance,
                                        height=height, width=width, latent=output == "latent")
            if output == "latent":
                latents.append(torch.as_tensor(result).detach().float().cpu())
            else:
                images.extend(result)
            if progress is not None:
                progress(min(start + rows, total), total)
        return torch.cat(latents) if output == "latent" else images

    # ------------------------------------------------------------------------------ helpers

    def _size_or_default(self, height: int | None, width: int | None,
                         default: tuple[int, int], multiple: int) -> tuple[int, int]:
        h = default[0] if height is None else _check_size(height, "height", multiple)
        w = default[1] if width is None else _check_size(width, "width", multiple)
        return h, w
