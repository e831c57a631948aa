"""Procedurally generated RGB images: deterministic inputs that need no dataset.

Four kinds cycle with the index (``i % 4``): linear colour gradients at a random angle,
checkerboards with a random cell size and two random colours, soft Gaussian blobs on a random
background, and smooth value noise (a random low-resolution grid upsampled bicubically). Image
``i`` depends only on ``(seed, i)`` and ``size``, so ``generated_images(4, s, k)`` equals the
first four of ``generated_images(8, s, k)``.

The tiny backends compute their image-modality statistics (the Kandinsky prior's ``clip_mean``,
the Karlo prior's ``clip_mean``, the stable-unCLIP ``image_normalizer``) over
:func:`reference_images`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import PIL.Image

from vslerp.errors import InputError
from vslerp.tiny._common import check_seed

__all__ = [
    "IMAGE_KINDS",
    "REFERENCE_IMAGE_COUNT",
    "REFERENCE_IMAGE_SEED",
    "REFERENCE_IMAGE_SIZE",
    "generated_images",
    "reference_images",
]

#: Number, side length and seed of the reference set the tiny backends' means are computed on.
REFERENCE_IMAGE_COUNT = 48
REFERENCE_IMAGE_SIZE = 64
REFERENCE_IMAGE_SEED = 0

_MAX_SIZE = 4096
_MAX_COUNT = 100_000


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.meshgrid(coords, coords, indexing="xy")


def _colours(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=(k, 3))


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    x, y = _grid(size)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    t = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-12)
    a, b = _colours(rng, 2)
    return a * (1.0 - t[..., None]) + b * t[..., None]


def _checkerboard(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = int(rng.integers(2, 9))
    x, y = _grid(size)
    parity = (np.floor(x * cells) + np.floor(y * cells)) % 2
    a, b = _colours(rng, 2)
    return np.where(parity[..., None] > 0, a, b)


def _blobs(rng: np.random.Generator, size: int) -> np.ndarray:
    x, y = _grid(size)
    image = np.broadcast_to(_colours(rng, 1)[0], (size, size, 3)).copy()
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0.1, 0.9, size=2)
        sigma = rng.uniform(0.05, 0.25)
        weight = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * sigma**2))[..., None]
        image = image * (1.0 - weight) + _colours(rng, 1)[0] * weight
    return image


def _noise(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = int(rng.integers(2, 9))
    coarse = (rng.uniform(0.0, 1.0, size=(cells, cells, 3)) * 255.0).astype(np.uint8)
    smooth = PIL.Image.fromarray(coarse, "RGB").resize((size, size), PIL.Image.Resampling.BICUBIC)
    return np.asarray(smooth, dtype=np.float64) / 255.0


IMAGE_KINDS: tuple[tuple[str, Callable[[np.random.Generator, int], np.ndarray]], ...] = (
    ("gradient", _gradient),
    ("checkerboard", _checkerboard),
    ("blobs", _blobs),
    ("noise", _noise),
)


def generated_images(n: int, size: int = 64, seed: int = 0) -> list[PIL.Image.Image]:
    """``n`` deterministic RGB images of ``size`` x ``size`` pixels.

    Args:
        n: number of images, ``1 <= n <= 100000``.
        size: side length in pixels, ``4 <= size <= 4096``.
        seed: non-negative int; image ``i`` is drawn from ``numpy.random.default_rng([seed, i])``
            (no global random state is used or changed).

    Returns:
        A list of ``n`` ``PIL.Image.Image`` in mode ``"RGB"``; image ``i`` is of kind
        ``IMAGE_KINDS[i % 4]`` (gradient, checkerboard, blobs, noise).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_COUNT:
        raise InputError("n", n, f"expected an int in [1, {_MAX_COUNT}]")
    if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= _MAX_SIZE:
        raise InputError("size", size, f"expected an int in [4, {_MAX_SIZE}]")
    check_seed(seed)
    images = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        pixels = IMAGE_KINDS[i % len(IMAGE_KINDS)][1](rng, size)
        array = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
        images.append(PIL.Image.fromarray(np.ascontiguousarray(array), "RGB"))
    return images


def reference_images() -> list[PIL.Image.Image]:
    """The reference set the tiny backends' image statistics are computed on:
    ``generated_images(REFERENCE_IMAGE_COUNT, REFERENCE_IMAGE_SIZE, REFERENCE_IMAGE_SEED)``."""
    return generated_images(REFERENCE_IMAGE_COUNT, REFERENCE_IMAGE_SIZE, REFERENCE_IMAGE_SEED)
