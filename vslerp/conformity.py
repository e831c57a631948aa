"""Conformity: how common a sample is within a reference set.

For a set ``S = {v_1..v_N}`` of raw embeddings, the conformity of a member is the mean cosine
similarity to the other members, ``C(v_j) = mean_{k≠j} cos(v_j, v_k)``. With unit vectors
``û = v/‖v‖`` and their mean ``ū = mean_k û_k`` this is exactly

    C(v_j) = (N·û_j·ū − 1)/(N − 1)      for v_j in S,
    C(v)   = û·ū                          for v outside S,

so exact conformity costs ``O(N·D)``: one pass over the set for ``ū`` and one for the dot products
(:func:`conformity`). :func:`pairwise_conformity` is the ``O(N²·D)`` definition, kept as an
oracle. The paper's estimate replaces ``ū`` by the raw mean ``m``:
``Ĉ(v) = a·cos(m, v) + b`` (:func:`estimated_conformity`, :func:`fit_estimator`; Pearson 0.9998
on MS-COCO with ViT-B/32, see :data:`PAPER_FITS`). :class:`ConformityMeter` is the
metric-style streaming form (update / merge / compute / reset), and :func:`score_embeddings`
builds the per-sample table and summary used by ``vslerp conformity``.

Every function accepts ``(N, D)`` numpy arrays or torch tensors of any real dtype and returns
numpy float64. Float32 inputs are processed in float32 per block of rows with float64
accumulation of the block results (error about 1e-7 against float64 arithmetic); float64 and
integer inputs are processed in float64. Extra memory is ``O(block·D)`` plus the ``(N,)`` output.
The streaming passes use single-threaded numpy kernels: they are bound by memory bandwidth, and
small multi-threaded BLAS calls per block stall badly when other processes share the cores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from vslerp.errors import InputError
from vslerp.means import (
    DEFAULT_BLOCK_SIZE,
    MeanAccumulator,
    Modality,
    ModalityMean,
    _check_block_size,
    _fast_inverse_norms,
    _fast_thresholds,
    _Rows,
    _unit_rows64,
    _vector,
)

__all__ = [
    "PAPER_FITS",
    "ConformityMeter",
    "ConformityResult",
    "ConformityScores",
    "EstimatorFit",
    "conformity",
    "estimated_conformity",
    "fit_estimator",
    "pairwise_conformity",
    "score_embeddings",
]

#: Rows (and columns) per tile of :func:`pairwise_conformity`.
PAIRWISE_BLOCK_SIZE = 1024


class EstimatorFit(NamedTuple):
    """Least-squares fit ``C ≈ a·cos(m, v) + b`` and the Pearson correlation of the two."""

    a: float
    b: float
    pearson: float


#: The paper's fits on MS-COCO with CLIP ViT-B/32 (Levi & Gilboa 2025, Pearson 0.9998).
PAPER_FITS: dict[str, EstimatorFit] = {
    "image": EstimatorFit(a=1.461, b=-0.002, pearson=0.9998),
    "text": EstimatorFit(a=1.411, b=-0.008, pearson=0.9998),
}


# --------------------------------------------------------------------------------------------
# streaming passes
# --------------------------------------------------------------------------------------------


def _unit_sum_pass(rows: _Rows, X: Any, block_size: int,
                   inv_out: np.ndarray) -> tuple[np.ndarray, set[int]]:
    """Pass 1: ``Σ_j û_j`` as ``(D,)`` float64; writes ``1/‖x_j‖`` into ``inv_out``.

    Each block costs one row-norm reduction and one weighted column sum ``(1/‖x‖)ᵀ·B`` (a BLAS
    matrix-vector product) in the work dtype (the block is still in cache for the second), whose
    ``(D,)`` result is added in float64. Blocks holding rows that are zero, non-finite, or too
    tiny/huge for the fast path are normalized in float64 instead; their starts are returned.
    """
    lo = _fast_thresholds(rows.work_dtype, rows.d)
    total = np.zeros(rows.d, dtype=np.float64)
    careful: set[int] = set()
    for start, block in rows.blocks(block_size):
        inv = _fast_inverse_norms(block, lo)
        if inv is None:
            total += _unit_rows64(block, start, rows.name, X).sum(axis=0)
            careful.add(start)
        else:
            total += inv.astype(rows.work_dtype) @ block  # BLAS GEMV
            inv_out[start:start + block.shape[0]] = inv
    return total, careful


def _unit_dot_pass(rows: _Rows, X: Any, vec: np.ndarray, block_size: int,
                   inv: np.ndarray | None = None, careful: set[int] | None = None) -> np.ndarray:
    """``û_j·vec`` for every row as ``(N,)`` float64 (one matrix-vector product per block).

    With ``inv``/``careful`` from :func:`_unit_sum_pass` the stored inverse norms are reused and
    the result overwrites ``inv``; otherwise norms are computed (and rows validated) here.
    """
    out = inv if inv is not None else np.empty(rows.n, dtype=np.float64)
    vec_work = vec.astype(rows.work_dtype)
    lo = _fast_thresholds(rows.work_dtype, rows.d)
    for start, block in rows.blocks(block_size):
        stop = start + block.shape[0]
        if inv is not None:
            scale = None if careful and start in careful else out[start:stop]
        else:
            scale = _fast_inverse_norms(block, lo)
        if scale is None:
            out[start:stop] = _unit_rows64(block, start, rows.name, X) @ vec
        else:
            np.multiply(block @ vec_work, scale, out=out[start:stop])  # BLAS GEMV
    return out


def _raw_mean(rows: _Rows, block_size: int) -> np.ndarray:
    """``(D,)`` float64 mean of the raw rows (float64 accumulation)."""
    total = np.zeros(rows.d, dtype=np.float64)
    for _, block in rows.blocks(block_size):
        total += block.sum(axis=0, dtype=np.float64)
    return total / rows.n


def _reference_unit_mean(reference: Any, d: int) -> np.ndarray:
    if isinstance(reference, ModalityMean):
        if reference.unit_mean is None:
            raise InputError("reference", reference,
                             "has only a raw mean (unit_mean is None): exact conformity needs "
                             "the mean of unit vectors, so only estimated conformity is possible "
                             "(estimated_conformity(X, mean))")
        ubar = reference.unit_mean
    else:
        ubar = _vector(reference, "reference")
        if np.linalg.norm(ubar) > 1 + 1e-9:
            raise InputError("reference", reference,
                             "has norm > 1: a (D,) reference is the mean of unit vectors ū, "
                             "whose norm is at most 1 (pass a ModalityMean for a raw mean)")
    if ubar.shape[0] != d:
        raise InputError("reference", reference,
                         f"has dimension {ubar.shape[0]}, X has D={d}")
    return ubar


def _mean_direction(mean: Any, d: int) -> np.ndarray:
    m = mean.mean if isinstance(mean, ModalityMean) else _vector(mean, "mean")
    if m.shape[0] != d:
        raise InputError("mean", mean, f"has dimension {m.shape[0]}, X has D={d}")
    norm = float(np.linalg.norm(m))
    if not norm > 0:
        raise InputError("mean", mean, "is all zeros; cos(mean, x) is undefined")
    return m / norm


# --------------------------------------------------------------------------------------------
# exact, pairwise, estimated
# --------------------------------------------------------------------------------------------


def conformity(X: Any, reference: ModalityMean | Any | None = None, *,
               block_size: int = DEFAULT_BLOCK_SIZE, name: str = "X") -> np.ndarray:
    """Exact conformity of every row of ``X``.

    Args:
        X: ``(N, D)`` raw embeddings, numpy or torch, any real dtype; rows finite and non-zero.
        reference: ``None`` for in-set conformity ``C_j = mean_{k≠j} cos(x_j, x_k)``
            (``N >= 2``), computed in closed form ``(N·û_j·ū − 1)/(N − 1)`` with two passes over
            ``X``. Otherwise the conformity ``û·ū`` of samples outside a reference set: a
            :class:`~vslerp.means.ModalityMean` with ``unit_mean``, or a ``(D,)`` array that *is*
            ``ū`` (the mean of the reference set's unit vectors, ``‖ū‖ <= 1``).
        block_size: rows per block; extra memory is ``O(block_size·D)``.
        name: how ``X`` is named in error messages.

    Returns:
        ``(N,)`` float64, values in ``[-1, 1]``.

    Raises:
        InputError: bad shape/dtype, fewer than two rows in-set, a zero or NaN/Inf row (named),
            a reference without ``unit_mean`` or of another dimension.
    """
    block_size = _check_block_size(block_size)
    rows = _Rows(X, name=name, min_rows=1 if reference is not None else 2)
    if reference is not None:
        ubar = _reference_unit_mean(reference, rows.d)
        return _unit_dot_pass(rows, X, ubar, block_size)
    n = rows.n
    out = np.empty(n, dtype=np.float64)
    total, careful = _unit_sum_pass(rows, X, block_size, out)
    _unit_dot_pass(rows, X, total / n, block_size, inv=out, careful=careful)
    out *= n
    out -= 1.0
    out /= n - 1
    return out


def pairwise_conformity(X: Any, *, block_size: int = PAIRWISE_BLOCK_SIZE) -> np.ndarray:
    """In-set conformity by its definition, ``C_j = mean_{k≠j} cos(x_j, x_k)``, in ``O(N²·D)``.

    Rows are normalized per tile; each pair of tiles is one GEMM in the work dtype (float32 for
    float32 input) whose row/column sums are accumulated in float64, using the symmetry of the
    cosine matrix. The diagonal terms actually computed are subtracted. Kept as an oracle and a
    benchmark baseline; use :func:`conformity` for real work.

    Args:
        X: ``(N, D)`` numpy/torch, any real dtype, ``N >= 2``, rows finite and non-zero.
        block_size: tile size; extra memory is ``O(block_size·(block_size + D))``.

    Returns:
        ``(N,)`` float64.
    """
    block_size = _check_block_size(block_size)
    rows = _Rows(X, name="X", min_rows=2)
    n = rows.n
    lo = _fast_thresholds(rows.work_dtype, rows.d)

    def unit(start: int) -> np.ndarray:
        block = rows.block(start, min(start + block_size, n))
        inv = _fast_inverse_norms(block, lo)
        if inv is None:
            return _unit_rows64(block, start, rows.name, X).astype(rows.work_dtype)
        return block * inv.astype(rows.work_dtype)[:, None]

    sums = np.zeros(n, dtype=np.float64)
    starts = range(0, n, block_size)
    for i in starts:
        ui = unit(i)
        i_stop = i + ui.shape[0]
        for j in starts:
            if j < i:
                continue
            uj = ui if j == i else unit(j)
            gram = ui @ uj.T
            sums[i:i_stop] += gram.sum(axis=1, dtype=np.float64)
            if j == i:
                sums[i:i_stop] -= np.diagonal(gram)
            else:
                sums[j:j + uj.shape[0]] += gram.sum(axis=0, dtype=np.float64)
    return sums / (n - 1)


def _check_coefficient(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise InputError(name, value, "expected a finite real number")
    return float(value)


def estimated_conformity(X: Any, mean: ModalityMean | Any, a: float = 1.0, b: float = 0.0, *,
                         block_size: int = DEFAULT_BLOCK_SIZE, name: str = "X") -> np.ndarray:
    """The paper's estimate ``a·cos(m, x) + b`` for every row of ``X``.

    Args:
        X: ``(N, D)`` raw embeddings, numpy or torch; rows finite and non-zero.
        mean: the raw modality mean ``m``: a :class:`~vslerp.means.ModalityMean` (its ``.mean``
            is used) or a ``(D,)`` array, non-zero.
        a, b: coefficients (e.g. from :func:`fit_estimator` or :data:`PAPER_FITS`); the defaults
            give plain ``cos(m, x)``.

    Returns:
        ``(N,)`` float64.
    """
    a = _check_coefficient(a, "a")
    b = _check_coefficient(b, "b")
    block_size = _check_block_size(block_size)
    rows = _Rows(X, name=name)
    direction = _mean_direction(mean, rows.d)
    cos = _unit_dot_pass(rows, X, direction, block_size)
    if a != 1.0:
        cos *= a
    if b != 0.0:
        cos += b
    return cos


def _least_squares(x: np.ndarray, y: np.ndarray, noise: float) -> EstimatorFit | None:
    """Fit ``y ≈ a·x + b``; ``None`` when ``x`` is constant up to ``noise``."""
    dx = x - x.mean()
    dy = y - y.mean()
    sxx = float(dx @ dx)
    if not sxx > x.size * noise * noise:
        return None
    sxy = float(dx @ dy)
    syy = float(dy @ dy)
    a = sxy / sxx
    b = float(y.mean()) - a * float(x.mean())
    pearson = sxy / math.sqrt(sxx * syy) if syy > 0 else math.nan
    return EstimatorFit(a=a, b=b, pearson=max(-1.0, min(1.0, pearson)) if syy > 0 else pearson)


def _noise_level(rows: _Rows) -> float:
    """Rounding noise of cosines computed in the work dtype."""
    return 16 * float(np.finfo(rows.work_dtype).eps)


def fit_estimator(X: Any, mean: ModalityMean | Any | None = None, *,
                  block_size: int = DEFAULT_BLOCK_SIZE, name: str = "X") -> EstimatorFit:
    """Fit ``a, b`` of ``a·cos(m, x) + b`` to exact in-set conformity by least squares.

    Args:
        X: ``(N, D)`` raw embeddings of the set, numpy or torch, ``N >= 2``.
        mean: raw mean ``m`` (:class:`~vslerp.means.ModalityMean` or ``(D,)``); defaults to the
            raw mean of ``X``.
        name: how ``X`` is named in error messages.

    Returns:
        :class:`EstimatorFit` ``(a, b, pearson)``; ``pearson`` is NaN when every row has the
        same exact conformity.

    Raises:
        InputError: as :func:`conformity`, or when ``cos(m, x)`` is the same for every row, so
            no line can be fitted.
    """
    block_size = _check_block_size(block_size)
    rows = _Rows(X, name=name, min_rows=2)
    exact = conformity(X, block_size=block_size, name=name)
    m = _raw_mean(rows, block_size) if mean is None else mean
    cos = estimated_conformity(X, m, block_size=block_size, name=name)
    fit = _least_squares(cos, exact, _noise_level(rows))
    if fit is None:
        raise InputError(name, X, "cos(mean, x) is the same for every row; cannot fit a, b")
    return fit


# --------------------------------------------------------------------------------------------
# metric-style accumulator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConformityResult:
    """What :meth:`ConformityMeter.compute` reports.

    Attributes:
        n: rows accumulated.
        mean_conformity: mean in-set conformity of the set, ``(N·‖ū‖² − 1)/(N − 1)``.
        reference: the set's :class:`~vslerp.means.ModalityMean` (with ``unit_mean``), usable as
            ``conformity(Y, reference=...)`` for samples outside the set.
    """

    n: int
    mean_conformity: float
    reference: ModalityMean


class ConformityMeter:
    """Streaming exact conformity, in the style of a torchmetrics metric.

    State: float64 sums of unit vectors and raw vectors (and squared deviations, for ``std``)
    and the count, kept by a :class:`~vslerp.means.MeanAccumulator`; memory ``O(D)``.

    * :meth:`update` adds a batch of rows of the set; shards and workers each keep a meter and
      :meth:`merge` them; :meth:`reset` empties it.
    * :meth:`compute` gives the set size, the set's mean conformity in closed form and the set's
      :class:`~vslerp.means.ModalityMean`.
    * :meth:`scores` is the second pass: for rows *of the accumulated set* it returns their exact
      in-set conformity ``(N·û·ū − 1)/(N − 1)``, equal to the pairwise definition over the whole
      set. (Rows not in the set: use ``conformity(Y, reference=meter.compute().reference)``.)

    Example::

        meter = ConformityMeter()
        for batch in loader:
            meter.update(batch)
        result = meter.compute()
        per_sample = np.concatenate([meter.scores(batch) for batch in loader])
    """

    def __init__(self, dim: int | None = None, *, encoder: str = "unknown",
                 modality: Modality = "image", source: str = "ConformityMeter") -> None:
        self._acc = MeanAccumulator(dim)
        # Validate the labels now rather than at compute().
        ModalityMean(mean=np.ones(1), encoder=encoder, modality=modality, source=source)
        self.encoder, self.modality, self.source = encoder, modality, source

    @property
    def n(self) -> int:
        """Rows accumulated so far."""
        return self._acc.count

    @property
    def dim(self) -> int | None:
        """``D``, once known."""
        return self._acc.dim

    def update(self, batch: Any, *, block_size: int = DEFAULT_BLOCK_SIZE) -> ConformityMeter:
        """Add ``(B, D)`` rows (numpy/torch, any real dtype, finite, non-zero). Returns ``self``."""
        self._acc.update(batch, block_size=block_size)
        return self

    def merge(self, other: ConformityMeter) -> ConformityMeter:
        """Add another meter's rows; ``other`` is unchanged. Returns ``self``."""
        if not isinstance(other, ConformityMeter):
            raise InputError("other", other, "expected a ConformityMeter")
        self._acc.merge(other._acc)
        return self

    def reset(self) -> None:
        """Forget every row."""
        self._acc.reset()

    def _unit_sum(self) -> np.ndarray:
        if self._acc.count < 2:
            raise InputError("meter", self, f"holds {self._acc.count} row(s); in-set conformity "
                                            "needs at least 2")
        return self._acc.unit_sum

    def compute(self) -> ConformityResult:
        """Set size, mean conformity ``(N·‖ū‖² − 1)/(N − 1)`` and the set's mean (``N >= 2``)."""
        total = self._unit_sum()
        n = self._acc.count
        mean_c = (float(total @ total) / n - 1.0) / (n - 1)
        reference = self._acc.compute(encoder=self.encoder, modality=self.modality,
                                      source=self.source)
        return ConformityResult(n=n, mean_conformity=mean_c, reference=reference)

    def scores(self, batch: Any, *, block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
        """Exact in-set conformity of ``batch``'s rows, which must belong to the accumulated set.

        Returns ``(B,)`` float64 ``(N·û·ū − 1)/(N − 1)`` with the meter's current ``N`` and ``ū``.
        """
        total = self._unit_sum()
        n = self._acc.count
        block_size = _check_block_size(block_size)
        rows = _Rows(batch, name="batch", dim=self._acc.dim)
        out = _unit_dot_pass(rows, batch, total, block_size)
        out -= 1.0
        out /= n - 1
        return out

    def __repr__(self) -> str:
        return f"ConformityMeter(dim={self.dim}, n={self.n}, encoder={self.encoder!r})"


# --------------------------------------------------------------------------------------------
# per-sample table + summary (used by `vslerp conformity`)
# --------------------------------------------------------------------------------------------


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, eq=False)
class ConformityScores:
    """Per-sample exact and estimated conformity of a set of embeddings.

    Attributes:
        ids: one id per row (default: the row index).
        conformity: ``(N,)`` float64 exact conformity (in-set, or against ``reference``).
        estimated: ``(N,)`` float64 ``a·cos(m, x) + b`` with the fitted ``a, b``; NaN when no fit
            is possible (all ``cos(m, x)`` equal, e.g. a single row).
        fit: the least-squares :class:`EstimatorFit` of exact vs ``cos(m, x)``, or ``None``.
        reference: ``"in-set"`` or a description of the reference mean.
        items: optional per-row item labels (file names, captions).
    """

    ids: Sequence[Any]
    conformity: np.ndarray
    estimated: np.ndarray
    fit: EstimatorFit | None
    reference: str | dict[str, Any]
    items: Sequence[str] | None = field(default=None)

    @property
    def n(self) -> int:
        return int(self.conformity.shape[0])

    def header(self) -> list[str]:
        """CSV column names: ``id, [item,] conformity, estimated``."""
        return ["id", *(["item"] if self.items is not None else []), "conformity", "estimated"]

    def rows(self) -> Iterator[list[Any]]:
        """One list per sample, matching :meth:`header`; floats as Python floats, a missing
        estimate as ``None``."""
        for i in range(self.n):
            est = float(self.estimated[i])
            row: list[Any] = [self.ids[i]]
            if self.items is not None:
                row.append(self.items[i])
            row += [float(self.conformity[i]), est if math.isfinite(est) else None]
            yield row

    def summary(self) -> dict[str, Any]:
        """JSON-ready: ``n``, ``a``, ``b``, ``pearson`` (``None`` when undefined), the reference,
        and the mean/median/std/min/max of exact conformity."""
        c = self.conformity
        fit = self.fit
        return {
            "n": self.n,
            "a": None if fit is None else _finite_or_none(fit.a),
            "b": None if fit is None else _finite_or_none(fit.b),
            "pearson": None if fit is None else _finite_or_none(fit.pearson),
            "reference": self.reference if isinstance(self.reference, str)
            else dict(self.reference),
            "conformity": {
                "mean": float(c.mean()),
                "median": float(np.median(c)),
                "std": float(c.std()),
                "min": float(c.min()),
                "max": float(c.max()),
            },
        }


def score_embeddings(X: Any, *, ids: Sequence[Any] | None = None,
                     items: Sequence[str] | None = None,
                     reference: ModalityMean | None = None,
                     block_size: int = DEFAULT_BLOCK_SIZE, name: str = "X") -> ConformityScores:
    """Exact and estimated conformity of every row, plus the estimator fit.

    Without ``reference`` the set is its own reference: exact in-set conformity (``N >= 2``),
    and ``cos(m, x)`` with ``m`` the raw mean of ``X``. With a
    :class:`~vslerp.means.ModalityMean` reference (which needs ``unit_mean``) the exact score is
    ``û·ū_ref`` and ``m`` is the reference's raw mean. In both cases ``a, b`` are fitted by least
    squares of exact conformity against ``cos(m, x)`` over the rows of ``X``.

    Args:
        X: ``(N, D)`` raw embeddings, numpy or torch.
        ids: ``N`` ids (default ``range(N)``).
        items: optional ``N`` labels.
        reference: a reference mean, or ``None`` for in-set.
        name: how ``X`` is named in error messages (e.g. the file it came from).
    """
    block_size = _check_block_size(block_size)
    if reference is not None and not isinstance(reference, ModalityMean):
        raise InputError("reference", reference, "expected a ModalityMean or None")
    rows = _Rows(X, name=name, min_rows=1 if reference is not None else 2,
                 dim=None if reference is None else reference.dim)
    for label, seq in (("ids", ids), ("items", items)):
        if seq is not None and len(seq) != rows.n:
            raise InputError(label, seq, f"has {len(seq)} entries for {rows.n} rows")
    exact = conformity(X, reference, block_size=block_size, name=name)
    m = _raw_mean(rows, block_size) if reference is None else reference.mean
    cos = estimated_conformity(X, m, block_size=block_size, name=name)
    fit = _least_squares(cos, exact, _noise_level(rows))
    estimated = np.full(rows.n, np.nan) if fit is None else fit.a * cos + fit.b
    if reference is None:
        ref_desc: str | dict[str, Any] = "in-set"
    else:
        info = reference.info()
        ref_desc = {k: info[k] for k in ("encoder", "modality", "source", "count", "dim")}
    return ConformityScores(ids=range(rows.n) if ids is None else ids, conformity=exact,
                            estimated=estimated, fit=fit, reference=ref_desc, items=items)
