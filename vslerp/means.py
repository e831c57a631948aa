"""Modality means: the centres of CLIP's image and text ellipsoid shells.

A :class:`ModalityMean` holds, for one encoder and one modality,

* ``mean``: the raw mean ``m = mean(v)`` of raw (unnormalized) embeddings, ``(D,)`` float64. This
  is the ``m`` of vSLERP and of estimated conformity ``a·cos(m, v) + b``;
* ``unit_mean``: the mean of unit vectors ``ū = mean(v/‖v‖)``, ``(D,)`` float64, ``‖ū‖ <= 1``.
  Exact conformity of a sample outside the set is ``C(v) = (v/‖v‖)·ū``; ``None`` when only a raw
  mean is known (a diffusion prior's ``clip_mean``, a legacy file);
* ``std``: per-dimension population standard deviation (``ddof=0``) or ``None``;
* provenance: ``count`` (0 when unknown), ``encoder`` id, ``modality`` and free-text ``source``.

Means are computed in one streaming pass with :class:`MeanAccumulator` (float64 sums, mergeable
across shards and workers), imported from a prior's ``clip_mean`` tensor
(:meth:`ModalityMean.from_clip_mean`) or from a legacy ``.pt`` tensor file
(:func:`convert_legacy_mean`, the only place vslerp reads a pickle-based format, and only through
``torch.load(..., weights_only=True)``), and stored as ``.safetensors`` with string metadata.

The module also holds the row-block helpers that :mod:`vslerp.conformity` shares: uniform,
validated access to ``(N, D)`` numpy arrays and torch tensors in blocks of rows, so that no pass
over ``N`` samples needs more than ``O(block·D)`` extra memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from vslerp import __version__
from vslerp.errors import InputError, short_repr
from vslerp.fileio import write_bytes_atomic

__all__ = [
    "MEAN_FORMAT",
    "MEAN_FORMAT_VERSION",
    "MeanAccumulator",
    "Modality",
    "ModalityMean",
    "convert_legacy_mean",
]

Modality = Literal["image", "text"]
MODALITIES: tuple[str, ...] = get_args(Modality)

MEAN_FORMAT = "vslerp.modality_mean"
MEAN_FORMAT_VERSION = "1"

#: Rows per block in streaming passes (a float32 block of 2048×512 is 4 MiB).
DEFAULT_BLOCK_SIZE = 2048

#: ``‖ū‖`` may exceed 1 only by rounding.
_UNIT_NORM_SLACK = 1e-9


# --------------------------------------------------------------------------------------------
# Row-block access shared with vslerp.conformity (package-internal)
# --------------------------------------------------------------------------------------------


def _torch_tensor_type() -> type | None:
    """``torch.Tensor`` when torch is already imported, else ``None`` (no torch import here)."""
    torch = sys.modules.get("torch")
    return None if torch is None else torch.Tensor


def _is_torch(value: Any) -> bool:
    tensor_type = _torch_tensor_type()
    return tensor_type is not None and isinstance(value, tensor_type)


def _check_block_size(block_size: Any) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise InputError("block_size", block_size, "expected a positive integer")
    if block_size < 1:
        raise InputError("block_size", block_size, "expected a positive integer")
    return int(block_size)


class _Rows:
    """Validated, read-only block access to an ``(N, D)`` numpy array or torch tensor.

    Construction checks rank, size, dtype and (optionally) ``D`` without touching the values.
    :meth:`block` returns rows ``[start, stop)`` as a numpy array in the *work dtype*: float64 for
    float64 and integer inputs, float32 for every other float dtype (float16/bfloat16 are widened
    per block). Numpy float32/float64 blocks and CPU torch blocks are views, not copies; other
    devices are copied to the host one block at a time.
    """

    def __init__(self, X: Any, *, name: str, dim: int | None = None, min_rows: int = 1) -> None:
        self.name = name
        if _is_torch(X):
            dtype = X.dtype
            if dtype.is_complex or str(dtype) == "torch.bool":
                raise InputError(name, X, "expected a real float (or integer) tensor")
            self.torch = True
            self.work_dtype = (np.dtype(np.float32) if dtype.is_floating_point
                               and str(dtype) != "torch.float64" else np.dtype(np.float64))
            shape = tuple(X.shape)
            self._data = X.detach()
        else:
            arr = np.asarray(X)
            if arr.dtype.kind not in "fiu":
                raise InputError(name, X, "expected a real numeric (float) array")
            self.torch = False
            self.work_dtype = (np.dtype(np.float32) if arr.dtype.kind == "f"
                               and arr.dtype.itemsize < 8 else np.dtype(np.float64))
            shape = arr.shape
            self._data = arr
        if len(shape) != 2:
            raise InputError(name, X, "expected a 2-D (N, D) matrix")
        self.n, self.d = int(shape[0]), int(shape[1])
        if self.d == 0:
            raise InputError(name, X, "has dimension D=0")
        if self.n < min_rows:
            raise InputError(name, X, f"needs at least {min_rows} row(s), got {self.n}")
        if dim is not None and self.d != dim:
            raise InputError(name, X, f"expected dimension D={dim}, got {self.d}")

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as a ``(stop-start, D)`` numpy array in the work dtype."""
        part = self._data[start:stop]
        if self.torch:
            if self.work_dtype == np.float64:
                part = part.double() if str(part.dtype) != "torch.float64" else part
            elif str(part.dtype) != "torch.float32":
                part = part.float()
            return part.cpu().numpy()
        return part if part.dtype == self.work_dtype else part.astype(self.work_dtype)

    def blocks(self, block_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, block)`` pairs covering all rows in order."""
        for start in range(0, self.n, block_size):
            yield start, self.block(start, min(start + block_size, self.n))


def _row_dots(block: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``(b,)`` dot product of each row of ``block`` with the matching row of ``other`` (or with
    ``other`` itself when it is ``(D,)``), in the block's dtype.

    Single-threaded numpy loops rather than BLAS: per-block BLAS calls pay for waking their
    thread pool on every call, which dominates (and varies wildly) on a loaded machine.
    """
    if _VECDOT is not None:
        return _VECDOT(block, other)
    spec = "ij,ij->i" if other.ndim == 2 else "ij,j->i"
    return np.einsum(spec, block, other)


_VECDOT = getattr(np, "vecdot", None)  # numpy >= 2.0


def _fast_thresholds(dtype: np.dtype, d: int) -> float:
    """Smallest squared norm the fast (work-dtype) path handles without precision loss.

    Below it, elements' squares may be subnormal or flush to zero; such rows (and zero, NaN/Inf
    or overflowing rows) go through :func:`_unit_rows64`.
    """
    info = np.finfo(dtype)
    return float(d * info.tiny / info.eps)


def _fast_inverse_norms(block: np.ndarray, lo: float) -> np.ndarray | None:
    """``1/‖x‖`` per row as ``(b,)`` float64 (squares summed in the block's dtype), or ``None``
    when some row needs the careful path (:func:`_unit_rows64`)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # such rows: careful path
        sq = _row_dots(block, block)
    if not ((sq >= lo) & (sq < np.inf)).all():
        return None
    inv = np.sqrt(sq, dtype=np.float64)
    return np.reciprocal(inv, out=inv)


def _bad_rows(rows: np.ndarray, start: int) -> str:
    shown = ", ".join(str(start + int(i)) for i in rows[:5])
    return shown + (" ..." if rows.size > 5 else "")


def _unit_rows64(block: np.ndarray, start: int, name: str, value: Any) -> np.ndarray:
    """Unit vectors of a block in float64, robust to tiny and huge values.

    Rows are scaled by their max-abs element before squaring, so neither underflow nor overflow
    can occur. Raises :class:`InputError` naming the (global) rows that contain NaN/Inf or are
    all zero.
    """
    r = np.array(block, dtype=np.float64)
    finite = np.isfinite(r).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(name, value, f"row(s) {_bad_rows(bad, start)} contain NaN/Inf")
    scale = np.abs(r).max(axis=1)
    if not (scale > 0).all():
        bad = np.flatnonzero(~(scale > 0))
        raise InputError(name, value, f"row(s) {_bad_rows(bad, start)} have zero norm")
    r /= scale[:, None]
    r /= np.sqrt(np.einsum("ij,ij->i", r, r))[:, None]
    return r


# --------------------------------------------------------------------------------------------
# ModalityMean
# --------------------------------------------------------------------------------------------


def _vector(value: Any, name: str, *, allow_row: bool = False) -> np.ndarray:
    """A finite 1-D float64 copy of a numpy/torch vector (``(1, D)`` accepted when asked)."""
    if _is_torch(value):
        arr = value.detach().to("cpu").double().numpy()
    else:
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise InputError(name, value, "expected a real numeric vector")
    if allow_row and arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] == 0:
        expected = "a (D,) or (1, D) vector" if allow_row else "a non-empty 1-D (D,) vector"
        raise InputError(name, value, f"expected {expected}, got shape {tuple(arr.shape)}")
    arr = np.array(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError(name, value, "contains NaN/Inf")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False, kw_only=True)
class ModalityMean:
    """The mean of one modality's raw embeddings for one encoder.

    Attributes:
        mean: ``(D,)`` float64 raw mean ``m``; finite and non-zero.
        unit_mean: ``(D,)`` float64 mean of unit vectors ``ū`` (``‖ū‖ <= 1``), or ``None`` when only
            a raw mean is known.
        count: number of embeddings averaged; 0 when unknown.
        encoder: encoder id the embeddings came from (e.g. ``"openclip:ViT-B-32/openai"``).
        modality: ``"image"`` or ``"text"``.
        source: free text: data set, prior, file.
        std: ``(D,)`` float64 per-dimension population std (``ddof=0``), or ``None``.

    Arrays are stored as read-only float64 copies. Instances compare by identity.
    """

    mean: np.ndarray
    encoder: str
    modality: Modality
    source: str = ""
    count: int = 0
    unit_mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self) -> None:
        mean = _vector(self.mean, "mean")
        if not np.any(mean):
            raise InputError("mean", self.mean, "is all zeros; a modality mean must be non-zero")
        object.__setattr__(self, "mean", mean)
        for field in ("unit_mean", "std"):
            raw = getattr(self, field)
            if raw is None:
                continue
            vec = _vector(raw, field)
            if vec.shape != mean.shape:
                raise InputError(field, raw, f"expected shape {mean.shape} like mean, "
                                             f"got {vec.shape}")
            object.__setattr__(self, field, vec)
        if self.unit_mean is not None and np.linalg.norm(self.unit_mean) > 1 + _UNIT_NORM_SLACK:
            raise InputError("unit_mean", self.unit_mean,
                             "has norm > 1; a mean of unit vectors cannot be longer than 1")
        if self.std is not None and (self.std < 0).any():
            raise InputError("std", self.std, "has negative entries")
        if isinstance(self.count, bool) or not isinstance(self.count, (int, np.integer)) \
                or self.count < 0:
            raise InputError("count", self.count, "expected a non-negative integer")
        object.__setattr__(self, "count", int(self.count))
        if not isinstance(self.encoder, str) or not self.encoder.strip():
            raise InputError("encoder", self.encoder, "expected a non-empty encoder id string")
        if self.modality not in MODALITIES:
            raise InputError("modality", self.modality, f"expected one of {MODALITIES}")
        if not isinstance(self.source, str):
            raise InputError("source", self.source, "expected a string")

    @property
    def dim(self) -> int:
        """Embedding dimension ``D``."""
        return int(self.mean.shape[0])

    @property
    def norm(self) -> float:
        """``‖m‖``, the raw mean's Euclidean norm."""
        return float(np.linalg.norm(self.mean))

    def info(self) -> dict[str, Any]:
        """JSON-ready description: dim, encoder, modality, source, count, norms."""
        return {
            "dim": self.dim,
            "encoder": self.encoder,
            "modality": self.modality,
            "source": self.source,
            "count": self.count,
            "mean_norm": self.norm,
            "unit_mean_norm": (None if self.unit_mean is None
                               else float(np.linalg.norm(self.unit_mean))),
            "has_std": self.std is not None,
        }

    def __repr__(self) -> str:
        return (f"ModalityMean(dim={self.dim}, encoder={self.encoder!r}, "
                f"modality={self.modality!r}, source={self.source!r}, count={self.count}, "
                f"‖m‖={self.norm:.4g}, unit_mean={'yes' if self.unit_mean is not None else 'no'})")

    # ---------------------------------------------------------------------------- constructors

    @classmethod
    def from_embeddings(cls, X: Any, *, encoder: str, modality: Modality, source: str = "",
                        block_size: int = DEFAULT_BLOCK_SIZE) -> ModalityMean:
        """Mean, unit mean and std of ``X``: ``(N, D)`` numpy/torch, any real dtype, ``N >= 1``.

        Streams ``X`` in blocks of rows (float64 accumulation); rows must be finite and non-zero.
        """
        acc = MeanAccumulator()
        acc.update(X, block_size=block_size)
        return acc.compute(encoder=encoder, modality=modality, source=source)

    @classmethod
    def from_clip_mean(cls, clip_mean: Any, *, encoder: str, source: str,
                       clip_std: Any = None) -> ModalityMean:
        """Wrap a diffusion prior's ``clip_mean`` (``(1, D)`` or ``(D,)`` tensor/array).

        The result is an image-modality raw mean with ``unit_mean=None`` and ``count=0``.
        ``clip_std`` (same shape), when given, becomes ``std``.

        Raises:
            InputError: ``clip_mean`` is all zeros or non-finite (the prior has no usable mean),
                or has a wrong shape; ``clip_std`` has a different dimension or bad values.
        """
        try:
            mean = _vector(clip_mean, "clip_mean", allow_row=True)
        except InputError as err:
            if "NaN/Inf" in err.problem:
                raise InputError("clip_mean", clip_mean, "contains NaN/Inf: the prior has no "
                                 "usable mean; compute one from a reference set") from err
            raise
        if not np.any(mean):
            raise InputError("clip_mean", clip_mean, "is all zeros: the prior has no usable mean; "
                             "compute one from a reference set instead")
        std = None if clip_std is None else _vector(clip_std, "clip_std", allow_row=True)
        if std is not None and std.shape != mean.shape:
            raise InputError("clip_std", clip_std, f"expected dimension {mean.shape[0]} like "
                                                   f"clip_mean, got {std.shape[0]}")
        return cls(mean=mean, std=std, encoder=encoder, modality="image", source=source)

    # --------------------------------------------------------------------------------- file I/O

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``.safetensors`` atomically: tensors ``mean`` (+ ``unit_mean``, ``std``) in float64
        and string metadata (format, format version, vslerp version, encoder, modality, source,
        count). Returns the path."""
        from safetensors.numpy import save

        p = Path(path)
        if p.suffix.lower() != ".safetensors":
            raise InputError("path", str(p), "a modality mean is saved as a .safetensors file")
        tensors = {"mean": np.ascontiguousarray(self.mean)}
        if self.unit_mean is not None:
            tensors["unit_mean"] = np.ascontiguousarray(self.unit_mean)
        if self.std is not None:
            tensors["std"] = np.ascontiguousarray(self.std)
        metadata = {
            "format": MEAN_FORMAT,
            "format_version": MEAN_FORMAT_VERSION,
            "vslerp_version": __version__,
            "encoder": self.encoder,
            "modality": self.modality,
            "source": self.source,
            "count": str(self.count),
        }
        return write_bytes_atomic(p, save(tensors, metadata=metadata))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, dim: int | None = None,
             encoder: str | None = None) -> ModalityMean:
        """Read a mean written by :meth:`save`.

        Args:
            path: the ``.safetensors`` file.
            dim: when given, the mean's dimension must equal it.
            encoder: when given, the stored encoder id must equal it.

        Raises:
            FileNotFoundError: no such file.
            InputError: not a vslerp mean file, a newer format version, unreadable, or a
                dimension/encoder mismatch (the message names the file and both values).
        """
        from safetensors import safe_open

        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"mean file not found: {p}")
        if p.is_dir():
            raise IsADirectoryError(f"mean file is a directory: {p}")
        try:
            with safe_open(str(p), framework="numpy") as fh:
                meta = dict(fh.metadata() or {})
                arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        except Exception as err:
            raise InputError("path", str(p), f"cannot read a safetensors mean: {err}") from err
        if meta.get("format") != MEAN_FORMAT or "mean" not in arrays:
            raise InputError("path", str(p), f"is not a vslerp modality-mean file (metadata "
                                             f"format={meta.get('format')!r}, tensors "
                                             f"{sorted(arrays)})")
        if meta.get("format_version") != MEAN_FORMAT_VERSION:
            raise InputError("path", str(p), f"has mean format version "
                                             f"{meta.get('format_version')!r}; this vslerp reads "
                                             f"version {MEAN_FORMAT_VERSION}")
        try:
            count = int(meta.get("count", "0"))
            mean = cls(mean=arrays["mean"], unit_mean=arrays.get("unit_mean"),
                       std=arrays.get("std"), count=count, encoder=meta.get("encoder", ""),
                       modality=meta.get("modality", ""),  # type: ignore[arg-type]
                       source=meta.get("source", ""))
        except (InputError, ValueError) as err:
            raise InputError("path", str(p), f"holds an invalid modality mean: {err}") from err
        if dim is not None and mean.dim != dim:
            raise InputError("dim", dim, f"{p.name} holds a D={mean.dim} mean "
                                         f"(encoder {mean.encoder!r}); expected D={dim}")
        if encoder is not None and mean.encoder != encoder:
            raise InputError("encoder", encoder, f"{p.name} was computed with encoder "
                                                 f"{mean.encoder!r}, not {encoder!r}")
        return mean


# --------------------------------------------------------------------------------------------
# MeanAccumulator
# --------------------------------------------------------------------------------------------


class MeanAccumulator:
    """Streaming, mergeable float64 statistics of raw embeddings.

    State (memory ``O(D)``, independent of ``N``): the count ``n``, the sum of raw vectors, the
    sum of unit vectors and the per-dimension sum of squared deviations from the mean (combined
    with Chan et al.'s pairwise update, which stays accurate when ``|mean| >> std``). Batches are
    processed in blocks of rows, so extra memory is ``O(block·D)``.

    Equal to the one-shot float64 computation (``X.mean(0)``, ``(X/‖X‖).mean(0)``, ``X.std(0)``)
    to about 1e-12 whatever the batching.

    Example::

        acc = MeanAccumulator()
        for shard in shards:
            acc.update(shard)
        mean = acc.compute(encoder="openclip:ViT-B-32/openai", modality="image", source="coco")
    """

    def __init__(self, dim: int | None = None) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))
                                or dim < 1):
            raise InputError("dim", dim, "expected a positive integer or None")
        self._dim = None if dim is None else int(dim)
        self.reset()

    def reset(self) -> None:
        """Forget every row (the dimension, once known, is kept)."""
        self._n = 0
        self._sum: np.ndarray | None = None
        self._unit_sum: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    @property
    def dim(self) -> int | None:
        """``D``, or ``None`` before the first update when not given."""
        return self._dim

    @property
    def count(self) -> int:
        """Rows accumulated so far."""
        return self._n

    @property
    def raw_sum(self) -> np.ndarray:
        """``(D,)`` float64 sum of raw vectors (a copy)."""
        return self._state()[0].copy()

    @property
    def unit_sum(self) -> np.ndarray:
        """``(D,)`` float64 sum of unit vectors (a copy)."""
        return self._state()[1].copy()

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._sum is None or self._unit_sum is None or self._m2 is None:
            raise InputError("accumulator", self, "holds no rows yet; call update() first")
        return self._sum, self._unit_sum, self._m2

    def _combine(self, n_b: int, sum_b: np.ndarray, unit_b: np.ndarray, m2_b: np.ndarray) -> None:
        if self._n == 0:
            self._n = n_b
            self._sum, self._unit_sum, self._m2 = sum_b.copy(), unit_b.copy(), m2_b.copy()
            return
        sum_a, unit_a, m2_a = self._state()
        n_a = self._n
        delta = sum_b / n_b - sum_a / n_a
        self._m2 = m2_a + m2_b + delta * delta * (n_a * n_b / (n_a + n_b))
        self._sum = sum_a + sum_b
        self._unit_sum = unit_a + unit_b
        self._n = n_a + n_b

    def update(self, batch: Any, *, block_size: int = DEFAULT_BLOCK_SIZE) -> MeanAccumulator:
        """Add the rows of ``batch``: ``(B, D)`` numpy array or torch tensor, any real dtype.

        Rows must be finite and non-zero (the error names the row, counted within ``batch``);
        on error the accumulator is unchanged. Returns ``self``.
        """
        block_size = _check_block_size(block_size)
        rows = _Rows(batch, name="batch", dim=self._dim)
        local = MeanAccumulator(rows.d)  # committed only once every row has been validated
        lo = _fast_thresholds(np.dtype(np.float64), rows.d)
        for start, block in rows.blocks(block_size):
            raw = np.array(block, dtype=np.float64)  # own copy: centred in place below
            inv = _fast_inverse_norms(raw, lo)
            if inv is None:  # zero/non-finite rows (raises) or extreme magnitudes
                unit_sum = _unit_rows64(raw, start, "batch", batch).sum(axis=0)
            else:
                unit_sum = np.einsum("ij,i->j", raw, inv)
            total = raw.sum(axis=0)
            raw -= total / raw.shape[0]
            np.square(raw, out=raw)
            local._combine(raw.shape[0], total, unit_sum, raw.sum(axis=0))
        return self.merge(local)

    def merge(self, other: MeanAccumulator) -> MeanAccumulator:
        """Add another accumulator's rows (e.g. from another shard or worker). Returns ``self``;
        ``other`` is unchanged."""
        if not isinstance(other, MeanAccumulator):
            raise InputError("other", other, "expected a MeanAccumulator")
        if other._n == 0:
            return self
        if self._dim is not None and other._dim != self._dim:
            raise InputError("other", other, f"has dimension D={other._dim}; this accumulator "
                                             f"has D={self._dim}")
        self._dim = other._dim
        self._combine(other._n, *other._state())
        return self

    def compute(self, *, encoder: str, modality: Modality, source: str = "") -> ModalityMean:
        """The :class:`ModalityMean` (mean, unit mean, population std, count) of all rows."""
        total, unit, m2 = self._state()
        n = self._n
        return ModalityMean(mean=total / n, unit_mean=unit / n, std=np.sqrt(m2 / n), count=n,
                            encoder=encoder, modality=modality, source=source)

    def __repr__(self) -> str:
        return f"MeanAccumulator(dim={self._dim}, count={self._n})"


# --------------------------------------------------------------------------------------------
# Legacy files
# --------------------------------------------------------------------------------------------


def convert_legacy_mean(path: str | os.PathLike[str], *, encoder: str, modality: Modality,
                        source: str | None = None) -> ModalityMean:
    """Import a legacy ``.pt`` mean (e.g. a ``(1, 768)`` float64 ``mean_feat.pt`` for ViT-L/14).

    The file is read with ``torch.load(path, weights_only=True, map_location="cpu")`` only, so
    a file holding arbitrary pickled objects is refused rather than executed. Accepted contents:
    a tensor of shape ``(D,)`` or ``(1, D)``, or a dict holding exactly one such tensor. The
    values are taken as a raw mean (``unit_mean=None``, ``count=0``); check with the file's
    author whether they averaged raw or normalized embeddings.

    Raises:
        FileNotFoundError: no such file.
        InputError: unreadable or pickled non-tensor content, or no single ``(D,)``/``(1, D)``
            tensor, or an all-zero / non-finite mean.
    """
    import pickle

    import torch

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"legacy mean file not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"legacy mean file is a directory: {p}")
    try:
        obj = torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        raise InputError("path", str(p), "refused: the file holds pickled objects other than "
                                         "tensors (only weights_only loading is allowed)") from err
    except Exception as err:
        raise InputError("path", str(p), f"cannot read as a torch tensor file: {err}") from err

    def usable(value: Any) -> bool:
        return isinstance(value, torch.Tensor) and (
            value.ndim == 1 or (value.ndim == 2 and value.shape[0] == 1))

    if isinstance(obj, dict):
        keys = [k for k, v in obj.items() if usable(v)]
        if len(keys) != 1:
            raise InputError("path", str(p), f"holds a dict with {len(keys)} (D,)/(1, D) "
                                             f"tensors {keys}; expected exactly one "
                                             f"(keys: {[str(k) for k in obj][:10]})")
        tensor = obj[keys[0]]
    elif usable(obj):
        tensor = obj
    else:
        raise InputError("path", str(p), f"holds {short_repr(obj)}; expected a (D,) or (1, D) "
                                         "tensor or a dict with exactly one such tensor")
    if not tensor.dtype.is_floating_point:
        raise InputError("path", str(p), f"holds a {tensor.dtype} tensor; expected floats")
    values = tensor.detach().to(torch.float64).reshape(-1).numpy()
    if not np.isfinite(values).all() or not np.any(values):
        raise InputError("path", str(p), "holds an all-zero or non-finite mean")
    return ModalityMean(mean=values, encoder=encoder, modality=modality,
                        source=source if source is not None else f"legacy file {p.name}")
