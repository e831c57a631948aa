"""The geometric analyses of "The Double-Ellipsoid Geometry of CLIP" (Levi & Gilboa, ICML 2025).

Every analysis works on *raw* (unnormalized) embeddings: ``(N, D)`` float32/float64 arrays, one
row per sample, computed in float64. Results are small frozen dataclasses; ``to_dict()`` gives a
JSON-serialisable dict (no NaN or Inf: an undefined number becomes ``None``) that carries the
arrays the figures need (spectra, histograms, loss-vs-α curves).

Notation: ``X`` is one modality's ``(N, D)`` matrix with rows ``v``; ``m = mean(v)`` its raw mean;
``σ_k² = var(v_k)`` the per-feature variance (unbiased, ``ddof=1``, as is the covariance ``C``).

What each analysis computes, and how it reads the paper. The paper's full text was not at hand
when this module was written: the equations cited by number (Eq. 3, 5, 6, 7–9; Figs. 7, 11) are
implemented in their most standard reading, stated below and in each function, and should be
checked against arXiv:2411.14517.

* :func:`feature_separability` (paper Eq. 5, image/text separability per feature), read as
  Fisher's discriminant ratio per feature
  ``F_k = (m^I_k − m^T_k)² / (σ^I_k² + σ^T_k²)``, reported with the best single-threshold
  balanced accuracy of every feature (the paper notes that a few features separate the
  modalities on their own), and the balanced accuracy of a linear classifier (two-class LDA) on
  the two most separating features: on all the data (training accuracy) and held out
  (stratified k-fold, features re-ranked inside each training fold).
* :func:`thin_shell` (paper Eq. 3). For a random vector with independent coordinates of mean
  ``μ_k`` and variance ``σ_k²``, ``E‖v‖² = Σ_k (μ_k² + σ_k²)``; in high dimension ‖v‖
  concentrates on a thin shell of radius ``sqrt(Σ_k (μ_k² + σ_k²))``. Reported: the mean and
  variance of the raw norms against that radius (the Eq. 3 check), and the paper's ``μ_norm``
  and variance of ``y = ‖v − m‖`` (thin shell: ``var(y) ≪ μ_norm²``).
* :func:`variance_spectrum`: sorted per-feature variances, covariance eigenvalues and the
  cumulative explained-variance curve (an ellipsoid, not a sphere, has an uneven spectrum).
* :func:`off_diagonal_dominance` (paper Eq. 6, a tilted ellipsoid). Read as the row-wise
  ratio ``r_k = Σ_{j≠k} |C_kj| / C_kk`` (``r_k > 1``: row ``k`` is dominated by its off-diagonal
  entries, the opposite of diagonal dominance), and its whole-matrix version.
* :func:`mean_offset`: ``‖m‖ / ‖σ‖`` per modality (how far the ellipsoid's centre is from the
  origin, in units of its spread).
* :func:`modality_gap`: ``‖c_I − c_T‖`` with ``c = mean(v / ‖v‖)`` the centroid of unit vectors
  (Liang et al., 2022, "Mind the Gap").
* :func:`conformity_analysis`: exact conformity ``C(v_j) = mean_{k≠j} cos(v_j, v_k)`` against
  ``cos(m, v_j)``, with the fitted ``C ≈ a·cos(m, v) + b`` and the Pearson r (paper Fig. 7).
* :func:`contrastive_loss_vs_shift` (paper Eq. 7–9): the symmetric InfoNCE (NT-Xent) loss of
  image–caption pairs after moving each modality by ``α`` times its own mean,
  ``v(α) = v − α·m`` (``α = 0``: CLIP as trained; ``α = 1``: both ellipsoids centred at the
  origin; ``α < 0``: moved further out). Curves are split into pairs CLIP classifies correctly
  at ``α = 0`` and the rest.
* :func:`conformity_kl_vs_shift` (paper Fig. 11): KL divergence between the image and text
  conformity distributions against the same shift, from fixed-bin histograms with additive
  smoothing (:func:`histogram_kl`).
* :func:`analyze` runs everything that applies and returns a :class:`GeometryReport`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from vslerp.conformity import conformity as _exact_conformity
from vslerp.conformity import estimated_conformity as _cos_to_mean
from vslerp.conformity import fit_estimator as _fit_estimator
from vslerp.errors import InputError
from vslerp.fileio import check_embeddings

__all__ = [
    "CLIP_LOGIT_SCALE",
    "DEFAULT_ALPHAS",
    "MAX_LOGIT_SCALE",
    "ConformityAnalysis",
    "ConformityKL",
    "ContrastiveShift",
    "FeatureSeparability",
    "GeometryReport",
    "Histogram",
    "MeanOffset",
    "ModalityGap",
    "ModalityGeometry",
    "OffDiagonalDominance",
    "ThinShell",
    "VarianceSpectrum",
    "analyze",
    "conformity_analysis",
    "conformity_kl_vs_shift",
    "contrastive_loss_vs_shift",
    "feature_separability",
    "histogram_kl",
    "mean_offset",
    "modality_gap",
    "off_diagonal_dominance",
    "thin_shell",
    "variance_spectrum",
]

CLIP_LOGIT_SCALE = 100.0
"""CLIP's trained logit scale ``exp(t) = 100`` (temperature 0.01)."""

MAX_LOGIT_SCALE = 300.0
"""Largest accepted logit scale: ``exp(−2s)`` must stay a normal float64 (CLIP clamps at 100)."""

DEFAULT_ALPHAS: tuple[float, ...] = tuple(round(-1.0 + 0.1 * i, 10) for i in range(21))
"""The mean-shift grid α = −1, −0.9, …, 1 used when none is given."""

_NORM_FLOOR = 1e-12  # shifted vectors shorter than this count as zero vectors (cosine 0)


# --------------------------------------------------------------------------- JSON conversion


def _jsonable(value: Any) -> Any:
    """Convert a result value to plain JSON types; NaN and ±Inf become ``None``."""
    if isinstance(value, _Result):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            obj = value.astype(object)
            obj[~np.isfinite(value)] = None
            return obj.tolist()
        return value.tolist()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class _Result:
    """Mixin for the frozen result dataclasses: ``to_dict()`` gives JSON-ready values."""

    def to_dict(self) -> dict[str, Any]:
        """Field name → value as plain JSON types (lists, floats, ints, ``None`` for NaN/Inf)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _frozen(arr: ArrayLike, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(arr, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class Histogram(_Result):
    """A histogram: ``edges`` ``(B + 1,)`` float64 ascending, ``counts`` ``(B,)`` int64."""

    edges: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class FeatureSeparability(_Result):
    """Per-feature image/text separability (paper Eq. 5, read as Fisher's ratio).

    Attributes:
        fisher: ``(D,)`` float64 ``F_k = (m^I_k − m^T_k)² / (σ^I_k² + σ^T_k²)`` ≥ 0; ``inf``
            (``None`` in JSON) when both modalities are constant on feature k but differ;
            0 when both are constant and equal.
        mean_difference: ``(D,)`` float64 ``m^I_k − m^T_k``.
        stump_accuracy: ``(D,)`` float64 in [0.5, 1]: best balanced accuracy of one threshold
            on feature k (either orientation), on all the data.
        ranking: ``(D,)`` int64, features by decreasing ``fisher`` (ties: lower index first).
        top_features: the first ``top_k`` entries of ``ranking``.
        n_perfect_features: number of features whose single threshold separates the
            modalities perfectly (``stump_accuracy == 1``).
        pair: the two most separating features ``(ranking[0], ranking[1])``.
        pair_train_accuracy: balanced accuracy of two-class LDA on ``pair``, fitted and scored
            on all the data (training accuracy).
        pair_heldout_accuracy: balanced accuracy of the same procedure (rank features by
            Fisher on the training fold, keep the top two, fit LDA) on held-out folds of a
            stratified ``n_folds``-fold split, predictions pooled over folds.
        n_folds: folds used for ``pair_heldout_accuracy``.
        pair_histograms: per feature of ``pair``, a histogram of the images (``[0]``) and of
            the texts (``[1]``) on shared edges: ``((img_f0, txt_f0), (img_f1, txt_f1))``.
    """

    fisher: np.ndarray
    mean_difference: np.ndarray
    stump_accuracy: np.ndarray
    ranking: np.ndarray
    top_features: tuple[int, ...]
    n_perfect_features: int
    pair: tuple[int, int]
    pair_train_accuracy: float
    pair_heldout_accuracy: float
    n_folds: int
    pair_histograms: tuple[tuple[Histogram, Histogram], ...]


@dataclass(frozen=True)
class ThinShell(_Result):
    """Thin-shell statistics of one modality (paper Eq. 3).

    Attributes:
        n: number of samples.
        raw_norm_mean: ``mean ‖v‖``.
        raw_norm_var: ``var ‖v‖`` (ddof=1).
        radius_predicted: ``sqrt(Σ_k (m_k² + σ_k²))``, the shell radius Eq. 3 predicts.
        radius_relative_error: ``|raw_norm_mean − radius_predicted| / radius_predicted``
            (the Eq. 3 check; small on a thin shell).
        mu_norm: the paper's ``μ_norm = mean y`` with ``y = ‖v − m‖``.
        var_norm: the paper's ``var(y)`` (ddof=1).
        centered_radius_predicted: ``sqrt(Σ_k σ_k²) = sqrt(tr C)``.
        thin_shell_ratio: ``var_norm / mu_norm²`` (thin shell: ≪ 1; the paper reports
            0.19 / 57.57 for MS-COCO images with ViT-B/32).
        raw_norms: histogram of ``‖v‖``.
        centered_norms: histogram of ``y = ‖v − m‖``.
    """

    n: int
    raw_norm_mean: float
    raw_norm_var: float
    radius_predicted: float
    radius_relative_error: float
    mu_norm: float
    var_norm: float
    centered_radius_predicted: float
    thin_shell_ratio: float
    raw_norms: Histogram
    centered_norms: Histogram


@dataclass(frozen=True)
class VarianceSpectrum(_Result):
    """Variance spectrum of one modality.

    Attributes:
        feature_variances: ``(D,)`` per-feature variances ``σ_k²``, sorted descending.
        eigenvalues: ``(D,)`` covariance eigenvalues, descending, clipped at 0.
        explained_variance: ``(D,)`` cumulative ``Σ_{i≤k} λ_i / Σ λ`` (ends at 1; all zeros if
            the covariance is zero).
        participation_ratio: ``(Σ λ)² / Σ λ²`` in [1, D] (effective number of directions;
            D for a sphere). ``nan`` (``None``) if the covariance is zero.
        n_components_90: smallest k with ``explained_variance[k-1] ≥ 0.9``.
    """

    feature_variances: np.ndarray
    eigenvalues: np.ndarray
    explained_variance: np.ndarray
    participation_ratio: float
    n_components_90: int


@dataclass(frozen=True)
class OffDiagonalDominance(_Result):
    """Off-diagonal dominance of one modality's covariance ``C`` (paper Eq. 6).

    Attributes:
        row_ratios: ``(D,)`` ``r_k = Σ_{j≠k} |C_kj| / C_kk``; ``nan`` (``None``) where
            ``C_kk = 0``.
        fraction_dominant: fraction of rows (with ``C_kk > 0``) where ``r_k > 1``.
        median_ratio: median of the defined ``r_k``.
        total_ratio: ``Σ_{k≠j} |C_kj| / Σ_k C_kk`` (0 for a diagonal covariance).
    """

    row_ratios: np.ndarray
    fraction_dominant: float
    median_ratio: float
    total_ratio: float


@dataclass(frozen=True)
class MeanOffset(_Result):
    """Offset of one modality's centre from the origin.

    Attributes:
        mean_norm: ``‖m‖``.
        sigma_norm: ``‖σ‖ = sqrt(Σ_k σ_k²)``.
        ratio: ``‖m‖ / ‖σ‖`` (``inf``/``None`` if ``σ = 0``; the paper reports 0.94 for images
            and 1.03 for texts).
    """

    mean_norm: float
    sigma_norm: float
    ratio: float


@dataclass(frozen=True)
class ModalityGap(_Result):
    """Gap between the modalities on the unit sphere (Liang et al., 2022).

    Attributes:
        gap: ``‖c_I − c_T‖`` with ``c = mean(v / ‖v‖)``, in [0, 2].
        image_centroid_norm: ``‖c_I‖`` in [0, 1] (1: all images point the same way).
        text_centroid_norm: ``‖c_T‖``.
        centroid_cosine: ``cos(c_I, c_T)``.
        raw_mean_distance: ``‖m_I − m_T‖`` between the raw means.
    """

    gap: float
    image_centroid_norm: float
    text_centroid_norm: float
    centroid_cosine: float
    raw_mean_distance: float


@dataclass(frozen=True)
class ConformityAnalysis(_Result):
    """Exact conformity against cosine to the mean for one modality (paper Fig. 7).

    Attributes:
        n: number of samples.
        a, b: least-squares fit ``C(v) ≈ a·cos(m, v) + b``; ``nan`` (``None`` in JSON) when
            ``m = 0`` (no direction) or ``cos(m, v)`` is the same for every sample.
        pearson: Pearson r between ``C(v)`` and ``cos(m, v)``; ``nan`` as for ``a``, or when
            every sample has the same conformity.
        conformity: exact in-set conformity of up to ``max_points`` samples (a fixed random
            subset when ``n`` is larger), for a scatter plot.
        cos_to_mean: ``cos(m, v)`` of the same samples (``nan`` when ``m = 0``).
        histogram: histogram of the exact conformity of all samples.
    """

    n: int
    a: float
    b: float
    pearson: float
    conformity: np.ndarray
    cos_to_mean: np.ndarray
    histogram: Histogram


@dataclass(frozen=True)
class ContrastiveShift(_Result):
    """Symmetric InfoNCE loss of image–caption pairs against the mean shift α (paper Eq. 7–9).

    Attributes:
        alphas: ``(A,)`` shifts; each modality is moved to ``v − α·m``.
        logit_scale: ``s`` in ``logits = s·cos``; temperature ``1/s``.
        n_pairs: number of pairs P.
        loss: ``(A,)`` mean over all pairs of the per-pair loss
            ``ℓ_k = ½(−log softmax_j(S_kj)_k − log softmax_j(S_jk)_k)``.
        loss_correct: ``(A,)`` mean ``ℓ_k`` over pairs correctly classified at ``α = 0``, or
            ``None`` if there are none.
        loss_misclassified: ``(A,)`` the same over the other pairs, or ``None``.
        accuracy: ``(A,)`` fraction of pairs that are top-1 in both directions at each α.
        n_correct: pairs correctly classified at ``α = 0`` (top-1 image→text and text→image).
        n_misclassified: ``n_pairs − n_correct``.
    """

    alphas: np.ndarray
    logit_scale: float
    n_pairs: int
    loss: np.ndarray
    loss_correct: np.ndarray | None
    loss_misclassified: np.ndarray | None
    accuracy: np.ndarray
    n_correct: int
    n_misclassified: int


@dataclass(frozen=True)
class ConformityKL(_Result):
    """KL divergence of image vs text conformity distributions against the shift α (Fig. 11).

    Attributes:
        alphas: ``(A,)`` shifts (each modality moved to ``v − α·m``).
        kl_image_text: ``(A,)`` ``KL(P_I ‖ P_T)`` in nats.
        kl_text_image: ``(A,)`` ``KL(P_T ‖ P_I)``.
        bin_edges: ``(B + 1,)`` fixed edges over [−1, 1] (conformity is a mean of cosines).
        image_counts: ``(A, B)`` int64 histogram counts of image conformity at each α.
        text_counts: ``(A, B)`` int64 the same for texts.
        smoothing: pseudo-count added to every bin before normalising.
        best_alpha: the α with the smallest ``kl_image_text``.
    """

    alphas: np.ndarray
    kl_image_text: np.ndarray
    kl_text_image: np.ndarray
    bin_edges: np.ndarray
    image_counts: np.ndarray
    text_counts: np.ndarray
    smoothing: float
    best_alpha: float


@dataclass(frozen=True)
class ModalityGeometry(_Result):
    """All single-modality analyses of one embedding set."""

    n: int
    thin_shell: ThinShell
    spectrum: VarianceSpectrum
    off_diagonal: OffDiagonalDominance
    mean_offset: MeanOffset
    conformity: ConformityAnalysis


@dataclass(frozen=True)
class GeometryReport(_Result):
    """Everything :func:`analyze` computed. ``contrastive`` is ``None`` without pairs."""

    n_images: int
    n_texts: int
    dim: int
    images: ModalityGeometry
    texts: ModalityGeometry
    separability: FeatureSeparability
    modality_gap: ModalityGap
    conformity_kl: ConformityKL
    contrastive: ContrastiveShift | None


# --------------------------------------------------------------------------- validation


def _matrix(x: Any, name: str, *, dim: int | None = None, min_rows: int = 2) -> np.ndarray:
    """Validate an ``(N, D)`` finite numeric matrix with ``N ≥ min_rows``; return float64."""
    arr = check_embeddings(x, name=name, dim=dim)
    if arr.shape[0] < min_rows:
        raise InputError(name, arr, f"needs at least {min_rows} rows, got {arr.shape[0]}")
    return np.asarray(arr, dtype=np.float64)


def _pair_of_matrices(
    images: Any, texts: Any, *, min_rows: int = 2, same_rows: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    img = _matrix(images, "images", min_rows=min_rows)
    txt = _matrix(texts, "texts", dim=img.shape[1], min_rows=min_rows)
    if same_rows and txt.shape[0] != img.shape[0]:
        raise InputError(
            "texts", txt,
            f"row i must pair with images row i, but there are {txt.shape[0]} texts for "
            f"{img.shape[0]} images",
        )
    return img, txt


def _int_at_least(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(name, value, "expected an integer")
    if value < minimum:
        raise InputError(name, value, f"must be at least {minimum}")
    return int(value)


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InputError(name, value, "expected a number")
    out = float(value)
    if not math.isfinite(out) or out <= 0:
        raise InputError(name, value, "must be a finite number > 0")
    return out


def _logit_scale(value: Any) -> float:
    scale = _positive_float(value, "logit_scale")
    if scale > MAX_LOGIT_SCALE:
        raise InputError("logit_scale", value, f"must be at most {MAX_LOGIT_SCALE:g}")
    return scale


def _alphas(alphas: ArrayLike | None) -> np.ndarray:
    if alphas is None:
        return np.asarray(DEFAULT_ALPHAS, dtype=np.float64)
    try:
        arr = np.asarray(alphas, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError("alphas", alphas, "expected a sequence of numbers") from err
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError("alphas", alphas, "expected a non-empty 1-D sequence of numbers")
    if not np.isfinite(arr).all():
        raise InputError("alphas", alphas, "contains NaN/Inf")
    return arr


def _mean_vector(value: Any, name: str, dim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(name, value, f"expected a finite ({dim},) vector") from err
    if arr.shape != (dim,) or not np.isfinite(arr).all():
        raise InputError(name, value, f"expected a finite ({dim},) vector")
    return arr


# --------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True)
class _Moments:
    """Mean ``(D,)``, unbiased per-feature variance ``(D,)`` and covariance ``(D, D)``."""

    mean: np.ndarray
    var: np.ndarray
    cov: np.ndarray


def _moments(x: np.ndarray) -> _Moments:
    mean = x.mean(axis=0)
    centered = x - mean
    cov = centered.T @ centered / (x.shape[0] - 1)
    var = np.clip(np.diag(cov).copy(), 0.0, None)
    return _Moments(mean=mean, var=var, cov=cov)


def _window(*samples: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` over all samples, or a unit-wide window around their centre when they
    are equal up to round-off (equal bins could not be formed on a zero-width range)."""
    lo = min(float(v.min()) for v in samples)
    hi = max(float(v.max()) for v in samples)
    if hi - lo > 1e-9 * max(abs(lo), abs(hi), 1.0):
        return lo, hi
    centre = 0.5 * (lo + hi)
    return centre - 0.5, centre + 0.5


def _histogram(values: np.ndarray, bins: int, value_range: tuple[float, float] | None = None
               ) -> Histogram:
    """Histogram on ``bins`` equal bins over ``value_range`` (default: the data's range)."""
    window = _window(values) if value_range is None else value_range
    counts, edges = np.histogram(values, bins=bins, range=window)
    return Histogram(edges=_frozen(edges), counts=_frozen(counts, np.int64))


def _ratio(num: float, den: float) -> float:
    """``num / den`` for ``den > 0``; else ``inf`` (``num > 0``) or ``nan`` (``num == 0``)."""
    if den > 0:
        return num / den
    return math.inf if num > 0 else math.nan


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, _NORM_FLOOR)


def _balanced_accuracy(pred_image: np.ndarray, is_image: np.ndarray) -> float:
    """``½ (TPR + TNR)`` with images as positives; both classes must be present."""
    tpr = float(np.mean(pred_image[is_image]))
    tnr = float(np.mean(~pred_image[~is_image]))
    return 0.5 * (tpr + tnr)


# --------------------------------------------------------------------------- separability


def _feature_var(x: np.ndarray) -> np.ndarray:
    """Unbiased per-feature variance; 0 for a single row (a training fold may have one)."""
    return x.var(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])


def _fisher(img: np.ndarray, txt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fisher ratio per feature and the mean difference (see :class:`FeatureSeparability`)."""
    diff = img.mean(axis=0) - txt.mean(axis=0)
    spread = _feature_var(img) + _feature_var(txt)
    num = diff * diff
    with np.errstate(divide="ignore", invalid="ignore"):
        fisher = np.where(spread > 0, num / np.where(spread > 0, spread, 1.0),
                          np.where(num > 0, np.inf, 0.0))
    return fisher, diff


def _rank(scores: np.ndarray) -> np.ndarray:
    """Indices by decreasing score, ties broken by lower index (stable)."""
    return np.argsort(-scores, kind="stable")


def _stump_accuracy(img: np.ndarray, txt: np.ndarray, block: int = 64) -> np.ndarray:
    """Best balanced accuracy of one threshold per feature, either orientation.

    Splitting the sorted values after position ``k`` (never between equal values) and calling
    everything above "image" gives ``bal_k = ½((N_I − c_I(k))/N_I + c_T(k)/N_T)`` with ``c_I``,
    ``c_T`` the images and texts among the first ``k``; the other orientation gives
    ``1 − bal_k``. The result is ``max_k max(bal_k, 1 − bal_k)``.
    """
    n_i, n_t = img.shape[0], txt.shape[0]
    values = np.concatenate([img, txt], axis=0)
    is_image = np.concatenate([np.ones(n_i, bool), np.zeros(n_t, bool)])
    out = np.empty(values.shape[1])
    for start in range(0, values.shape[1], block):
        cols = values[:, start:start + block]
        order = np.argsort(cols, axis=0, kind="stable")
        sorted_vals = np.take_along_axis(cols, order, axis=0)
        c_img = np.vstack([np.zeros((1, cols.shape[1])), np.cumsum(is_image[order], axis=0)])
        k = np.arange(values.shape[0] + 1)[:, None]
        bal = 0.5 * ((n_i - c_img) / n_i + (k - c_img) / n_t)
        best = np.maximum(bal, 1.0 - bal)
        # a split between positions k-1 and k is possible only where the values differ
        valid = np.ones_like(best, dtype=bool)
        valid[1:-1] = sorted_vals[1:] > sorted_vals[:-1]
        out[start:start + block] = np.where(valid, best, 0.0).max(axis=0)
    return out


def _lda_fit(x: np.ndarray, is_image: np.ndarray) -> tuple[np.ndarray, float]:
    """Two-class LDA with equal priors: ``w = S_w⁻¹ (μ_I − μ_T)``, threshold at the midpoint.

    ``S_w`` is the pooled within-class covariance, with a tiny ridge (1e-10 of its trace) so
    that constant features keep it invertible. Predict "image" where ``x·w > c``.
    """
    a, b = x[is_image], x[~is_image]
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    scatter = (a - mu_a).T @ (a - mu_a) + (b - mu_b).T @ (b - mu_b)
    pooled = scatter / max(x.shape[0] - 2, 1)
    ridge = 1e-10 * max(float(np.trace(pooled)), 1.0)
    w = np.linalg.solve(pooled + ridge * np.eye(x.shape[1]), mu_a - mu_b)
    return w, float(w @ (mu_a + mu_b) / 2.0)


def _lda_predict(x: np.ndarray, model: tuple[np.ndarray, float]) -> np.ndarray:
    w, c = model
    return x @ w > c


def _stratified_folds(n_i: int, n_t: int, n_folds: int, seed: int) -> list[np.ndarray]:
    """Test-index sets of a stratified k-fold split of ``n_i`` images then ``n_t`` texts."""
    rng = np.random.default_rng(seed)
    img_parts = np.array_split(rng.permutation(n_i), n_folds)
    txt_parts = np.array_split(n_i + rng.permutation(n_t), n_folds)
    return [np.concatenate([a, b]) for a, b in zip(img_parts, txt_parts, strict=True)]


def _separability(img: np.ndarray, txt: np.ndarray, top_k: int, n_folds: int, seed: int,
                  bins: int) -> FeatureSeparability:
    fisher, diff = _fisher(img, txt)
    ranking = _rank(fisher)
    stump = _stump_accuracy(img, txt)
    pair = (int(ranking[0]), int(ranking[1]))

    x_all = np.concatenate([img, txt], axis=0)
    is_image = np.concatenate([np.ones(img.shape[0], bool), np.zeros(txt.shape[0], bool)])
    cols = list(pair)
    train_acc = _balanced_accuracy(
        _lda_predict(x_all[:, cols], _lda_fit(x_all[:, cols], is_image)), is_image)

    folds = min(n_folds, img.shape[0], txt.shape[0])
    pred = np.empty(x_all.shape[0], dtype=bool)
    for test in _stratified_folds(img.shape[0], txt.shape[0], folds, seed):
        train = np.ones(x_all.shape[0], bool)
        train[test] = False
        x_tr, y_tr = x_all[train], is_image[train]
        fold_cols = list(_rank(_fisher(x_tr[y_tr], x_tr[~y_tr])[0])[:2])
        model = _lda_fit(x_tr[:, fold_cols], y_tr)
        pred[test] = _lda_predict(x_all[test][:, fold_cols], model)
    heldout_acc = _balanced_accuracy(pred, is_image)

    hists = []
    for f in pair:
        window = _window(img[:, f], txt[:, f])
        hists.append((_histogram(img[:, f], bins, window), _histogram(txt[:, f], bins, window)))

    return FeatureSeparability(
        fisher=_frozen(fisher),
        mean_difference=_frozen(diff),
        stump_accuracy=_frozen(stump),
        ranking=_frozen(ranking, np.int64),
        top_features=tuple(int(i) for i in ranking[:top_k]),
        n_perfect_features=int(np.sum(stump >= 1.0)),
        pair=pair,
        pair_train_accuracy=train_acc,
        pair_heldout_accuracy=heldout_acc,
        n_folds=folds,
        pair_histograms=tuple(hists),
    )


def feature_separability(
    images: ArrayLike, texts: ArrayLike, *, top_k: int = 10, n_folds: int = 5, seed: int = 0,
    bins: int = 50,
) -> FeatureSeparability:
    """Per-feature image/text separability and a two-feature linear classifier (paper Eq. 5).

    Eq. 5 is read as Fisher's discriminant ratio per feature,
    ``F_k = (m^I_k − m^T_k)² / (σ^I_k² + σ^T_k²)`` (σ² unbiased). The two features with the
    largest ``F_k`` feed a two-class LDA (equal priors). Accuracies are *balanced*
    (``½(TPR + TNR)``), so 0.5 is chance whatever the class sizes. The held-out accuracy
    re-ranks features inside every training fold, so no test sample influences which two
    features are used.

    Args:
        images: ``(N_I, D)`` float raw image embeddings, ``N_I ≥ 2``, ``D ≥ 2``.
        texts: ``(N_T, D)`` float raw text embeddings, ``N_T ≥ 2``.
        top_k: how many top features to list (capped at D).
        n_folds: folds for the held-out accuracy (≥ 2; capped at the smaller class size).
        seed: seed of the fold assignment.
        bins: bins of the two top features' histograms.

    Returns:
        :class:`FeatureSeparability`.

    Raises:
        InputError: bad shapes, NaN/Inf, fewer than 2 rows or features, bad integers.
    """
    img, txt = _pair_of_matrices(images, texts)
    if img.shape[1] < 2:
        raise InputError("images", img, "needs at least 2 features (D ≥ 2)")
    top_k = _int_at_least(top_k, "top_k")
    n_folds = _int_at_least(n_folds, "n_folds", 2)
    seed = _int_at_least(seed, "seed", 0)
    bins = _int_at_least(bins, "bins")
    return _separability(img, txt, min(top_k, img.shape[1]), n_folds, seed, bins)


# --------------------------------------------------------------------------- single modality


def _thin_shell(x: np.ndarray, mom: _Moments, bins: int) -> ThinShell:
    raw = np.linalg.norm(x, axis=1)
    centered = np.linalg.norm(x - mom.mean, axis=1)
    radius = math.sqrt(float(mom.mean @ mom.mean + mom.var.sum()))
    mu_norm = float(centered.mean())
    var_norm = float(centered.var(ddof=1))
    return ThinShell(
        n=int(x.shape[0]),
        raw_norm_mean=float(raw.mean()),
        raw_norm_var=float(raw.var(ddof=1)),
        radius_predicted=radius,
        radius_relative_error=_ratio(abs(float(raw.mean()) - radius), radius),
        mu_norm=mu_norm,
        var_norm=var_norm,
        centered_radius_predicted=math.sqrt(float(mom.var.sum())),
        thin_shell_ratio=_ratio(var_norm, mu_norm**2),
        raw_norms=_histogram(raw, bins),
        centered_norms=_histogram(centered, bins),
    )


def thin_shell(x: ArrayLike, *, bins: int = 50) -> ThinShell:
    """Thin-shell statistics of one modality (paper Eq. 3).

    Eq. 3: for independent coordinates with means ``μ_k`` and variances ``σ_k²``,
    ``E‖v‖² = Σ_k (μ_k² + σ_k²)``, and in high dimension ``‖v‖`` concentrates around
    ``sqrt(Σ_k (μ_k² + σ_k²))``. With the sample ``m`` and ``σ²`` (ddof=1) this gives
    ``radius_predicted``; ``radius_relative_error`` compares it with the mean raw norm. The
    paper's thin-shell statistics are ``μ_norm = mean y`` and ``var(y)`` of the centred norms
    ``y = ‖v − m‖``.

    Args:
        x: ``(N, D)`` float raw embeddings of one modality, ``N ≥ 2``.
        bins: bins of the norm histograms.

    Returns:
        :class:`ThinShell`.
    Raises:
        InputError: ``x`` not an ``(N, D)`` finite numeric matrix with enough rows, or ``bins < 1``.
    """
    arr = _matrix(x, "x")
    return _thin_shell(arr, _moments(arr), _int_at_least(bins, "bins"))


def _spectrum(mom: _Moments) -> VarianceSpectrum:
    eig = np.clip(np.linalg.eigvalsh(mom.cov)[::-1], 0.0, None)
    total = float(eig.sum())
    if total > 0:
        explained = np.cumsum(eig) / total
        participation = total**2 / float(eig @ eig)
        n90 = int(np.searchsorted(explained, 0.9 - 1e-12) + 1)
    else:
        explained, participation, n90 = np.zeros_like(eig), math.nan, 0
    return VarianceSpectrum(
        feature_variances=_frozen(np.sort(mom.var)[::-1]),
        eigenvalues=_frozen(eig),
        explained_variance=_frozen(explained),
        participation_ratio=participation,
        n_components_90=min(n90, eig.size),
    )


def variance_spectrum(x: ArrayLike) -> VarianceSpectrum:
    """Sorted feature variances, covariance eigenvalues and the explained-variance curve.

    ``C = Σ_n (v_n − m)(v_n − m)ᵀ / (N − 1)``; eigenvalues ``λ_1 ≥ … ≥ λ_D`` (``eigvalsh``,
    tiny negative round-off clipped to 0); ``explained[k] = Σ_{i≤k+1} λ_i / Σ λ``;
    participation ratio ``(Σ λ)² / Σ λ²``.

    Args:
        x: ``(N, D)`` float raw embeddings of one modality, ``N ≥ 2``.

    Returns:
        :class:`VarianceSpectrum`.
    Raises:
        InputError: ``x`` not an ``(N, D)`` finite numeric matrix with enough rows.
    """
    return _spectrum(_moments(_matrix(x, "x")))


def _off_diagonal(mom: _Moments) -> OffDiagonalDominance:
    diag = np.diag(mom.cov).copy()
    abs_off = np.abs(mom.cov)
    np.fill_diagonal(abs_off, 0.0)
    off = abs_off.sum(axis=1)
    defined = diag > 0
    ratios = np.full(diag.shape, np.nan)
    ratios[defined] = off[defined] / diag[defined]
    trace = float(diag[defined].sum())
    return OffDiagonalDominance(
        row_ratios=_frozen(ratios),
        fraction_dominant=float(np.mean(ratios[defined] > 1.0)) if defined.any() else math.nan,
        median_ratio=float(np.median(ratios[defined])) if defined.any() else math.nan,
        total_ratio=_ratio(float(off.sum()), trace),
    )


def off_diagonal_dominance(x: ArrayLike) -> OffDiagonalDominance:
    """Off-diagonal dominance of the covariance (paper Eq. 6, a tilted ellipsoid).

    Read as ``r_k = Σ_{j≠k} |C_kj| / C_kk`` per row (a diagonally dominant matrix has every
    ``r_k ≤ 1``; a strongly tilted ellipsoid has ``r_k > 1``), summarised by the fraction of rows
    with ``r_k > 1``, the median ``r_k`` and ``Σ_{k≠j} |C_kj| / tr C``. For ``C = I`` all
    ratios are 0; for ``C = (1−ρ)I + ρ11ᵀ`` every ``r_k = (D−1)|ρ|``.

    Args:
        x: ``(N, D)`` float raw embeddings of one modality, ``N ≥ 2``.

    Returns:
        :class:`OffDiagonalDominance`.
    Raises:
        InputError: ``x`` not an ``(N, D)`` finite numeric matrix with enough rows.
    """
    return _off_diagonal(_moments(_matrix(x, "x")))


def _mean_offset(mom: _Moments) -> MeanOffset:
    mean_norm = float(np.linalg.norm(mom.mean))
    sigma_norm = math.sqrt(float(mom.var.sum()))
    return MeanOffset(mean_norm=mean_norm, sigma_norm=sigma_norm,
                      ratio=_ratio(mean_norm, sigma_norm))


def mean_offset(x: ArrayLike) -> MeanOffset:
    """``‖m‖ / ‖σ‖``: distance of the modality mean from the origin in units of spread.

    ``m = mean(v)``, ``σ_k = std(v_k)`` (ddof=1), ``‖σ‖ = sqrt(Σ_k σ_k²)``.

    Args:
        x: ``(N, D)`` float raw embeddings of one modality, ``N ≥ 2``.

    Returns:
        :class:`MeanOffset`.
    Raises:
        InputError: ``x`` not an ``(N, D)`` finite numeric matrix with enough rows.
    """
    return _mean_offset(_moments(_matrix(x, "x")))


# --------------------------------------------------------------------------- two modalities


def _modality_gap(img: np.ndarray, txt: np.ndarray) -> ModalityGap:
    c_i = _unit_rows(img).mean(axis=0)
    c_t = _unit_rows(txt).mean(axis=0)
    n_i, n_t = float(np.linalg.norm(c_i)), float(np.linalg.norm(c_t))
    cosine = float(c_i @ c_t) / (n_i * n_t) if n_i > 0 and n_t > 0 else math.nan
    return ModalityGap(
        gap=float(np.linalg.norm(c_i - c_t)),
        image_centroid_norm=n_i,
        text_centroid_norm=n_t,
        centroid_cosine=cosine,
        raw_mean_distance=float(np.linalg.norm(img.mean(axis=0) - txt.mean(axis=0))),
    )


def modality_gap(images: ArrayLike, texts: ArrayLike) -> ModalityGap:
    """Modality gap ``‖c_I − c_T‖`` between the centroids of unit vectors (Liang et al., 2022).

    ``c = mean_n(v_n / ‖v_n‖)`` per modality (zero rows count as zero vectors).

    Args:
        images: ``(N_I, D)`` float raw image embeddings, ``N_I ≥ 1``.
        texts: ``(N_T, D)`` float raw text embeddings, ``N_T ≥ 1``.

    Returns:
        :class:`ModalityGap`.
    Raises:
        InputError: an input that is not a finite ``(N, D)`` matrix, or texts of another D.
    """
    img, txt = _pair_of_matrices(images, texts, min_rows=1)
    return _modality_gap(img, txt)


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _conformity_analysis(x: np.ndarray, mean: np.ndarray, max_points: int, seed: int,
                         bins: int, name: str) -> ConformityAnalysis:
    exact = np.asarray(_exact_conformity(x, name=name), dtype=np.float64)
    if np.linalg.norm(mean) > 0:
        cos_m = np.asarray(_cos_to_mean(x, mean, name=name), dtype=np.float64)
        try:
            a, b, pearson = _fit_estimator(x, mean=mean)
        except InputError:  # cos(m, v) is the same for every row: no line to fit
            a = b = pearson = math.nan
    else:  # a mean at the origin has no direction: cos(m, v) is undefined
        cos_m = np.full(x.shape[0], np.nan)
        a = b = pearson = math.nan
    keep = _subsample(x.shape[0], max_points, seed)
    return ConformityAnalysis(
        n=int(x.shape[0]),
        a=float(a),
        b=float(b),
        pearson=float(pearson),
        conformity=_frozen(exact[keep]),
        cos_to_mean=_frozen(cos_m[keep]),
        histogram=_histogram(exact, bins),
    )


def conformity_analysis(x: ArrayLike, *, max_points: int = 5000, seed: int = 0,
                        bins: int = 50) -> ConformityAnalysis:
    """Exact conformity against cosine to the modality mean (paper Fig. 7).

    Exact in-set conformity ``C(v_j) = mean_{k≠j} cos(v_j, v_k)`` and ``cos(m, v_j)`` with
    ``m`` the raw mean of ``x``, the least-squares fit ``C ≈ a·cos(m, v) + b`` and Pearson r
    (from :mod:`vslerp.conformity`). On a thin shell around an offset mean r is close to 1.

    Args:
        x: ``(N, D)`` float raw embeddings of one modality, ``N ≥ 3``.
        max_points: most samples kept in the returned scatter arrays (a seeded random subset).
        seed: seed of that subset.
        bins: bins of the conformity histogram.

    Returns:
        :class:`ConformityAnalysis`.
    Raises:
        InputError: ``x`` not an ``(N, D)`` finite numeric matrix with enough rows; a zero
            row; bad ``max_points``, ``seed`` or ``bins``.
    """
    arr = _matrix(x, "x", min_rows=3)
    return _conformity_analysis(arr, arr.mean(axis=0), _int_at_least(max_points, "max_points"),
                                _int_at_least(seed, "seed", 0), _int_at_least(bins, "bins"), "x")


# --------------------------------------------------------------------------- mean shift


def _infonce_curves(a: np.ndarray, b: np.ndarray, m_a: np.ndarray, m_b: np.ndarray,
                    alphas: np.ndarray, scale: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair symmetric InfoNCE loss and top-1 correctness at every α.

    Row ``k`` of ``a`` pairs with row ``k`` of ``b``. After the shift ``a(α) = a − α m_a``,
    ``b(α) = b − α m_b`` the logits are ``S_kj = s·cos(a_k(α), b_j(α))`` with
    ``a_k(α)·b_j(α) = a_k·b_j − α a_k·m_b − α m_a·b_j + α² m_a·m_b``, so the Gram matrix
    ``a bᵀ`` is computed once per block of rows and reused for every α.

    Logits lie in ``[−s, s]``, so ``E = exp(S − s)`` needs no per-row shift (no overflow, and
    no underflow for ``s ≤ MAX_LOGIT_SCALE``); one ``E`` serves both the row and the column
    sums, which are accumulated across row blocks (memory ``O(block · P)``). The diagonal is
    left out of the sums, and ``−log softmax_k = log1p(Σ_{j≠k} E_kj · exp(s − S_kk))`` keeps
    full relative precision when the loss is tiny.

    Returns:
        ``loss (A, P)`` with ``ℓ_k = ½(−log softmax_j(S_k·)_k − log softmax_j(S_·k)_k)`` and
        ``correct (A, P)`` bool (``argmax_j S_kj = k`` and ``argmax_j S_jk = k``).
    """
    n = a.shape[0]
    n_alpha = alphas.size
    al = alphas[:, None]
    norm_a = np.stack([np.linalg.norm(a - alpha * m_a, axis=1) for alpha in alphas])
    norm_b = np.stack([np.linalg.norm(b - alpha * m_b, axis=1) for alpha in alphas])
    inv_a = scale / np.maximum(norm_a, _NORM_FLOOR)  # (A, P), carries the logit scale
    inv_b = 1.0 / np.maximum(norm_b, _NORM_FLOOR)
    u = a @ m_b  # a_k · m_b
    w = b @ m_a  # m_a · b_j
    c = float(m_a @ m_b)
    dots = np.einsum("ij,ij->i", a, b)
    diag = np.clip((dots - al * u - al * w + al**2 * c) * inv_a * inv_b, -scale, scale)

    row_off = np.empty((n_alpha, n))
    row_arg = np.empty((n_alpha, n), dtype=np.int64)
    col_off = np.zeros((n_alpha, n))
    col_best = np.full((n_alpha, n), -1.0)
    col_arg = np.zeros((n_alpha, n), dtype=np.int64)
    block = max(1, min(n, 2_000_000 // max(n, 1)))
    for start in range(0, n, block):
        stop = min(start + block, n)
        local = np.arange(stop - start)
        gram = a[start:stop] @ b.T
        for i, alpha in enumerate(alphas):
            e = gram - alpha * u[start:stop, None]
            e -= alpha * w[None, :]
            e += alpha**2 * c
            e *= inv_a[i, start:stop, None]
            e *= inv_b[i, None, :]
            np.clip(e, -scale, scale, out=e)
            e -= scale
            np.exp(e, out=e)  # E = exp(S − s), monotone in S: arg-maxes are unchanged
            row_arg[i, start:stop] = e.argmax(axis=1)
            block_best = e.max(axis=0)
            better = block_best > col_best[i]
            col_arg[i, better] = e.argmax(axis=0)[better] + start
            col_best[i, better] = block_best[better]
            e[local, local + start] = 0.0  # drop the positives from the sums
            row_off[i, start:stop] = e.sum(axis=1)
            col_off[i] += e.sum(axis=0)
    boost = np.exp(scale - diag)  # 1 / E_kk
    loss = 0.5 * (np.log1p(row_off * boost) + np.log1p(col_off * boost))
    idx = np.arange(n)[None, :]
    correct = (row_arg == idx) & (col_arg == idx)
    return loss, correct


def _contrastive(a: np.ndarray, b: np.ndarray, m_a: np.ndarray, m_b: np.ndarray,
                 alphas: np.ndarray, scale: float) -> ContrastiveShift:
    grid = np.append(alphas, 0.0)  # α = 0 decides which pairs count as correctly classified
    loss, correct = _infonce_curves(a, b, m_a, m_b, grid, scale)
    groups = correct[-1]
    loss, correct = loss[:-1], correct[:-1]
    n_correct = int(groups.sum())
    return ContrastiveShift(
        alphas=_frozen(alphas),
        logit_scale=scale,
        n_pairs=int(a.shape[0]),
        loss=_frozen(loss.mean(axis=1)),
        loss_correct=_frozen(loss[:, groups].mean(axis=1)) if n_correct else None,
        loss_misclassified=(_frozen(loss[:, ~groups].mean(axis=1))
                            if n_correct < a.shape[0] else None),
        accuracy=_frozen(correct.mean(axis=1)),
        n_correct=n_correct,
        n_misclassified=int(a.shape[0]) - n_correct,
    )


def contrastive_loss_vs_shift(
    images: ArrayLike, texts: ArrayLike, *, alphas: ArrayLike | None = None,
    logit_scale: float = CLIP_LOGIT_SCALE, image_mean: ArrayLike | None = None,
    text_mean: ArrayLike | None = None,
) -> ContrastiveShift:
    """Symmetric InfoNCE (NT-Xent) loss of paired embeddings against the mean shift α (Eq. 7–9).

    Each modality is moved by α times its own mean, ``v(α) = v − α·m`` (α = 0: CLIP as
    trained; α = 1: both ellipsoids centred at the origin), the shifted vectors are compared
    by cosine, and with ``S_kj = s·cos(image_k(α), text_j(α))`` the per-pair loss is
    ``ℓ_k = ½(−log softmax_j(S_k·)_k − log softmax_j(S_·k)_k)``, CLIP's loss over the whole
    set as one batch. Pairs are split by whether they are top-1 in both directions at α = 0.
    A shifted vector of norm below 1e-12 is treated as a zero vector (cosine 0).

    Args:
        images: ``(P, D)`` float raw image embeddings, ``P ≥ 2``.
        texts: ``(P, D)`` float raw text embeddings; row k is the caption of image k.
        alphas: shifts (default :data:`DEFAULT_ALPHAS`, −1…1 in steps of 0.1).
        logit_scale: ``0 < s ≤ MAX_LOGIT_SCALE`` (default CLIP's 100, temperature 0.01).
        image_mean: ``(D,)`` image mean to shift by (default: the mean of ``images``).
        text_mean: ``(D,)`` text mean to shift by (default: the mean of ``texts``).

    Returns:
        :class:`ContrastiveShift`.
    Raises:
        InputError: bad matrices, different row counts or D, bad ``alphas``,
            ``logit_scale`` or means.
    """
    img, txt = _pair_of_matrices(images, texts, same_rows=True)
    grid = _alphas(alphas)
    scale = _logit_scale(logit_scale)
    dim = img.shape[1]
    m_i = img.mean(axis=0) if image_mean is None else _mean_vector(image_mean, "image_mean", dim)
    m_t = txt.mean(axis=0) if text_mean is None else _mean_vector(text_mean, "text_mean", dim)
    return _contrastive(img, txt, m_i, m_t, grid, scale)


def histogram_kl(p_values: ArrayLike, q_values: ArrayLike, *, bins: int = 100,
                 value_range: tuple[float, float] = (-1.0, 1.0), smoothing: float = 0.5
                 ) -> float:
    """KL divergence ``KL(P ‖ Q)`` in nats between two samples, via fixed-bin histograms.

    Both samples are binned on the same ``bins`` equal bins over ``value_range`` (values
    outside are clipped into the end bins). Every bin gets ``smoothing`` pseudo-counts
    (additive smoothing; 0.5 is the Krichevsky–Trofimov / Jeffreys choice), so
    ``p_i = (n_i + s) / (N + B·s)``, and ``KL = Σ_i p_i log(p_i / q_i)``, which is finite.
    Identical samples give exactly 0.

    Args:
        p_values: 1-D finite values (at least one).
        q_values: 1-D finite values (at least one).
        bins: number of bins ≥ 1.
        value_range: ``(lo, hi)`` with ``lo < hi``.
        smoothing: pseudo-count per bin, > 0.

    Returns:
        ``KL(P ‖ Q) ≥ 0``.

    Raises:
        InputError: empty or non-finite samples, ``bins < 1``, a bad range or ``smoothing``.
    """
    p = _values_1d(p_values, "p_values")
    q = _values_1d(q_values, "q_values")
    bins = _int_at_least(bins, "bins")
    edges = _edges(bins, value_range)
    smoothing = _positive_float(smoothing, "smoothing")
    return float(_kl_counts(_bin_counts(p, edges), _bin_counts(q, edges), smoothing))


def _values_1d(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(name, values, "expected numbers") from err
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(name, values, "expected a non-empty 1-D array")
    if not np.isfinite(arr).all():
        raise InputError(name, values, "contains NaN/Inf")
    return arr


def _edges(bins: int, value_range: Sequence[float]) -> np.ndarray:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError) as err:
        raise InputError("value_range", value_range, "expected (lo, hi)") from err
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError("value_range", value_range, "expected finite lo < hi")
    return np.linspace(lo, hi, bins + 1)


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts on ``edges`` with out-of-range values clipped into the end bins."""
    clipped = np.clip(values, edges[0], edges[-1])
    return np.histogram(clipped, bins=edges)[0].astype(np.int64)


def _kl_counts(p_counts: np.ndarray, q_counts: np.ndarray, smoothing: float) -> np.ndarray:
    """``KL(P ‖ Q)`` along the last axis of two count arrays, with additive smoothing."""
    p = p_counts + smoothing
    q = q_counts + smoothing
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def _conformity_kl(img: np.ndarray, txt: np.ndarray, m_i: np.ndarray, m_t: np.ndarray,
                   alphas: np.ndarray, bins: int, smoothing: float) -> ConformityKL:
    edges = np.linspace(-1.0, 1.0, bins + 1)
    img_counts = np.empty((alphas.size, bins), dtype=np.int64)
    txt_counts = np.empty((alphas.size, bins), dtype=np.int64)
    for i, alpha in enumerate(alphas):
        img_shifted = _exact_conformity(img - alpha * m_i, name="images")
        txt_shifted = _exact_conformity(txt - alpha * m_t, name="texts")
        img_counts[i] = _bin_counts(np.asarray(img_shifted), edges)
        txt_counts[i] = _bin_counts(np.asarray(txt_shifted), edges)
    kl_it = _kl_counts(img_counts, txt_counts, smoothing)
    kl_ti = _kl_counts(txt_counts, img_counts, smoothing)
    return ConformityKL(
        alphas=_frozen(alphas),
        kl_image_text=_frozen(kl_it),
        kl_text_image=_frozen(kl_ti),
        bin_edges=_frozen(edges),
        image_counts=_frozen(img_counts, np.int64),
        text_counts=_frozen(txt_counts, np.int64),
        smoothing=smoothing,
        best_alpha=float(alphas[int(np.argmin(kl_it))]),
    )


def conformity_kl_vs_shift(
    images: ArrayLike, texts: ArrayLike, *, alphas: ArrayLike | None = None, bins: int = 100,
    smoothing: float = 0.5, image_mean: ArrayLike | None = None,
    text_mean: ArrayLike | None = None,
) -> ConformityKL:
    """KL divergence between image and text conformity distributions against α (paper Fig. 11).

    At every α each modality is moved to ``v − α·m`` (its own mean, as in
    :func:`contrastive_loss_vs_shift`), the exact in-set conformity of every sample is
    computed within its modality, and the two conformity samples are compared with
    :func:`histogram_kl` on ``bins`` fixed equal bins over [−1, 1] with ``smoothing``
    pseudo-counts per bin. The sets need not be paired.

    Args:
        images: ``(N_I, D)`` float raw image embeddings, ``N_I ≥ 2``.
        texts: ``(N_T, D)`` float raw text embeddings, ``N_T ≥ 2``.
        alphas: shifts (default :data:`DEFAULT_ALPHAS`).
        bins: number of bins over [−1, 1] (default 100, width 0.02).
        smoothing: pseudo-count per bin, > 0 (default 0.5).
        image_mean: ``(D,)`` image mean to shift by (default: the mean of ``images``).
        text_mean: ``(D,)`` text mean to shift by (default: the mean of ``texts``).

    Returns:
        :class:`ConformityKL`.
    Raises:
        InputError: bad matrices or D, bad ``alphas``, ``bins``, ``smoothing`` or means, or
            a row that the shift moves exactly onto the origin (named ``images``/``texts``).
    """
    img, txt = _pair_of_matrices(images, texts)
    grid = _alphas(alphas)
    bins = _int_at_least(bins, "bins")
    smoothing = _positive_float(smoothing, "smoothing")
    dim = img.shape[1]
    m_i = img.mean(axis=0) if image_mean is None else _mean_vector(image_mean, "image_mean", dim)
    m_t = txt.mean(axis=0) if text_mean is None else _mean_vector(text_mean, "text_mean", dim)
    return _conformity_kl(img, txt, m_i, m_t, grid, bins, smoothing)


# --------------------------------------------------------------------------- everything


def _pair_indices(pairs: Any, n_images: int, n_texts: int) -> np.ndarray | None:
    """``(P, 2)`` int64 (image row, text row) pairs, or ``None`` for no pairs."""
    if pairs is None or (isinstance(pairs, (bool, np.bool_)) and not pairs):
        return None
    if isinstance(pairs, (bool, np.bool_)):
        if n_images != n_texts:
            raise InputError(
                "pairs", pairs,
                f"row-aligned pairs need as many texts as images; got {n_texts} texts for "
                f"{n_images} images (give (image_row, text_row) index pairs instead)",
            )
        idx = np.arange(n_images)
        return np.stack([idx, idx], axis=1)
    arr = np.asarray(pairs)
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError("pairs", pairs, "expected True or an integer (P, 2) array of "
                                         "(image_row, text_row)")
    if arr.shape[0] < 2:
        raise InputError("pairs", pairs, "needs at least 2 pairs (the loss needs negatives)")
    if (arr < 0).any() or (arr[:, 0] >= n_images).any() or (arr[:, 1] >= n_texts).any():
        raise InputError("pairs", pairs, f"indices out of range for {n_images} images and "
                                         f"{n_texts} texts")
    return arr.astype(np.int64)


def _modality(x: np.ndarray, bins: int, max_points: int, seed: int, name: str
              ) -> ModalityGeometry:
    mom = _moments(x)
    return ModalityGeometry(
        n=int(x.shape[0]),
        thin_shell=_thin_shell(x, mom, bins),
        spectrum=_spectrum(mom),
        off_diagonal=_off_diagonal(mom),
        mean_offset=_mean_offset(mom),
        conformity=_conformity_analysis(x, mom.mean, max_points, seed, bins, name),
    )


def analyze(
    images: ArrayLike, texts: ArrayLike, pairs: bool | ArrayLike | None = None, *,
    alphas: ArrayLike | None = None, logit_scale: float = CLIP_LOGIT_SCALE, top_k: int = 10,
    n_folds: int = 5, bins: int = 50, kl_bins: int = 100, kl_smoothing: float = 0.5,
    max_points: int = 5000, seed: int = 0,
) -> GeometryReport:
    """Run every analysis that applies to an image set and a text set.

    Always: per modality thin shell, variance spectrum, off-diagonal dominance, mean offset and
    conformity vs cosine to the mean; across modalities per-feature separability, modality gap
    and the conformity KL divergence against the mean shift. With ``pairs``: the contrastive
    loss against the mean shift, on the paired rows, shifting by the means of the full sets.

    Args:
        images: ``(N_I, D)`` float raw image embeddings, ``N_I ≥ 3``.
        texts: ``(N_T, D)`` float raw text embeddings, ``N_T ≥ 3``, same D.
        pairs: ``None``/``False`` (no pairs); ``True`` (row i of images pairs with row i of
            texts; needs ``N_I == N_T``); or an integer ``(P, 2)`` array of
            ``(image_row, text_row)`` with ``P ≥ 2``.
        alphas: mean shifts for the loss and KL curves (default :data:`DEFAULT_ALPHAS`).
        logit_scale: InfoNCE logit scale, ``0 < s ≤ MAX_LOGIT_SCALE`` (default 100).
        top_k: features listed in ``separability.top_features``.
        n_folds: folds of the held-out two-feature accuracy.
        bins: bins of the norm, feature and conformity histograms.
        kl_bins: fixed bins over [−1, 1] for the conformity KL.
        kl_smoothing: pseudo-count per bin for the conformity KL.
        max_points: most points kept in the conformity scatter arrays.
        seed: seed of the fold assignment and of the scatter subset.

    Returns:
        :class:`GeometryReport`.
    Raises:
        InputError: bad matrices (fewer than 3 rows, D < 2, NaN/Inf, other D), bad
            ``pairs`` (wrong shape or length, out of range, fewer than 2) or parameters.
    """
    img, txt = _pair_of_matrices(images, texts, min_rows=3)
    if img.shape[1] < 2:
        raise InputError("images", img, "needs at least 2 features (D ≥ 2)")
    idx = _pair_indices(pairs, img.shape[0], txt.shape[0])
    grid = _alphas(alphas)
    scale = _logit_scale(logit_scale)
    top_k = _int_at_least(top_k, "top_k")
    n_folds = _int_at_least(n_folds, "n_folds", 2)
    bins = _int_at_least(bins, "bins")
    kl_bins = _int_at_least(kl_bins, "kl_bins")
    kl_smoothing = _positive_float(kl_smoothing, "kl_smoothing")
    max_points = _int_at_least(max_points, "max_points")
    seed = _int_at_least(seed, "seed", 0)

    image_geo = _modality(img, bins, max_points, seed, "images")
    text_geo = _modality(txt, bins, max_points, seed, "texts")
    m_i, m_t = img.mean(axis=0), txt.mean(axis=0)
    contrastive = None
    if idx is not None:
        contrastive = _contrastive(img[idx[:, 0]], txt[idx[:, 1]], m_i, m_t, grid, scale)
    return GeometryReport(
        n_images=int(img.shape[0]),
        n_texts=int(txt.shape[0]),
        dim=int(img.shape[1]),
        images=image_geo,
        texts=text_geo,
        separability=_separability(img, txt, min(top_k, img.shape[1]), n_folds, seed, bins),
        modality_gap=_modality_gap(img, txt),
        conformity_kl=_conformity_kl(img, txt, m_i, m_t, grid, kl_bins, kl_smoothing),
        contrastive=contrastive,
    )
