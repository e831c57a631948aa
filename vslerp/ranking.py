"""Rank generators or captioners by the conformity distribution of their outputs.

Conformity (Levi & Gilboa 2025) measures how common a sample is within a reference set ``S``:
``C(v) = mean_{k} cos(v, v_k)`` over the members ``v_k`` of ``S`` (excluding ``v`` itself when it
is a member). Low conformity means rare, specific, detailed content; high conformity means
generic, "average" content. Real images and human captions have a characteristic distribution
of conformity; a generator or captioner whose outputs are too generic (or collapsed onto a few
modes) shifts it upwards, one that is off-distribution shifts it elsewhere (paper Fig. 13).

:func:`rank_sources` takes a reference set (real images, human captions) and any number of
sources (generator outputs, captioner outputs), all embedded by the same encoder, and computes:

* every sample's **exact conformity** against the reference, in closed form (``O(N·D)``): for
  reference rows the in-set value ``(N·û_j·ū − 1)/(N − 1)``, for a source's rows ``û·ū``, with
  ``û = v/‖v‖`` and ``ū`` the mean of the reference's unit vectors
  (:class:`vslerp.conformity.ConformityMeter`, :func:`vslerp.conformity.conformity`);
* every sample's **estimated conformity** ``a·cos(m, v) + b`` with ``m`` the reference's raw
  mean and ``a, b`` fitted on the reference by least squares
  (:func:`vslerp.conformity.fit_estimator`);
* per source: ``n``, failed items, mean / median / population std (``ddof=0``) and the 5 / 25 /
  75 / 95 % quantiles of exact conformity, and three distances between its conformity
  distribution ``P`` and the reference's ``Q``:

  - ``kl``: ``KL(P ‖ Q)`` in nats, from histograms on ``bins`` equal bins over the *pooled*
    range of every conformity value (reference and all sources, so all sources share the same
    bins), with ``smoothing`` pseudo-counts added to every bin (additive smoothing; the
    default 0.5 is the Jeffreys / Krichevsky–Trofimov choice) so that it is finite
    (:func:`vslerp.geometry.histogram_kl`);
  - ``w1``: the 1-Wasserstein (earth mover's) distance ``∫|F_P − F_Q|`` between the empirical
    distributions, in conformity units (:func:`scipy.stats.wasserstein_distance`);
  - ``ks``: the two-sample Kolmogorov–Smirnov statistic ``sup|F_P − F_Q|`` and its p-value
    (:func:`scipy.stats.ks_2samp`);

* ``rank``: sources ordered by distance to the reference. The primary distance is **W1**: it
  needs no binning, is in the units of conformity itself (a W1 of 0.02 means the distribution is
  shifted or spread by about 0.02 on average) and is sensitive to both location and shape;
  ties are broken by KS, then by input order. The reference row has distance 0 and rank 0;
  sources get ranks 1..S (1 = closest to the reference).
* ``rank_by_mean``: every row, the reference included, ordered by mean conformity, ascending
  (1 = lowest mean conformity = rarest, most detailed content), ties by input order.
* the ``k`` most and least conforming samples of each source with their ids, labels and paths.

All statistics are vectorised: the cost is ``O(N·D)`` for the scores plus ``O(N log N)`` for
medians, quantiles, W1 and KS; nothing is quadratic in ``N``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import stats

from vslerp.conformity import ConformityMeter, EstimatorFit, conformity, estimated_conformity
from vslerp.conformity import fit_estimator as _fit_estimator
from vslerp.errors import InputError
from vslerp.geometry import histogram_kl

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_EXAMPLES",
    "DEFAULT_SMOOTHING",
    "PRIMARY_DISTANCE",
    "QUANTILES",
    "EmbeddedSourceLike",
    "Example",
    "Ranking",
    "ScoredSource",
    "Scores",
    "SourceResult",
    "check_same_modality",
    "rank_scores",
    "rank_sources",
    "score_sources",
]

#: Equal bins over the pooled conformity range used for the KL divergence and the histograms.
DEFAULT_BINS = 50
#: Pseudo-count added to every bin before the KL divergence (Jeffreys / Krichevsky–Trofimov).
DEFAULT_SMOOTHING = 0.5
#: Most / least conforming examples kept per source.
DEFAULT_EXAMPLES = 8
#: The distance sources are ranked by (ties broken by ``ks``).
PRIMARY_DISTANCE = "w1"
#: Quantile levels reported per source, keyed ``q05`` ... ``q95``.
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.75, 0.95)


@runtime_checkable
class EmbeddedSourceLike(Protocol):
    """What :func:`rank_sources` reads from a source (``vslerp.jobs.EmbeddedSource`` has it).

    Attributes:
        name: display name, unique within a ranking.
        modality: ``"image"``, ``"text"`` or another label (e.g. ``"embeddings"`` for
            precomputed vectors of unknown modality).
        ids: ``N`` item ids, one per embedding row.
        labels: ``N`` human-readable labels (file name or caption).
        paths: ``N`` image paths (entries may be ``None``), or ``None`` for texts/embeddings.
        embeddings: ``(N, D)`` float32 raw embeddings (``N`` may be 0 when every item failed).
        failed: ``(id, reason)`` for every item that could not be embedded.
        encoder_id: the spec of the encoder that produced ``embeddings``, or ``None`` when it
            is unknown (an embeddings file without that metadata).
    """

    name: str
    modality: str
    ids: Sequence[Any]
    labels: Sequence[Any]
    paths: Sequence[Any] | None
    embeddings: np.ndarray
    failed: Sequence[tuple[Any, Any]]
    encoder_id: str | None


@dataclass(frozen=True)
class Example:
    """One sample shown in a report: its id, label (file name or caption), image path (or
    ``None``), exact and estimated conformity."""

    id: str
    label: str
    path: Path | None
    conformity: float
    estimated: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (path as a string or ``None``)."""
        return {"id": self.id, "label": self.label,
                "path": None if self.path is None else str(self.path),
                "conformity": _finite(self.conformity), "estimated": _finite(self.estimated)}


@dataclass(frozen=True, eq=False)
class SourceResult:
    """One row of a :class:`Ranking`: a source's (or the reference's) conformity distribution.

    Attributes:
        name, modality: from the source.
        is_reference: ``True`` for the reference row.
        n: embedded samples.
        failed: ``(id, reason)`` of items that were not embedded.
        mean, median, std: of exact conformity (``std`` is the population std, ``ddof=0``).
        quantiles: ``{"q05", "q25", "q75", "q95"}`` → value (numpy's linear interpolation).
        kl: ``KL(P_source ‖ P_reference)`` in nats (see the module docstring).
        w1: 1-Wasserstein distance to the reference distribution.
        ks, ks_pvalue: two-sample Kolmogorov–Smirnov statistic and p-value.
        rank: 0 for the reference, 1..S by (``w1``, ``ks``) for sources.
        rank_by_mean: 1..S+1 by ascending mean conformity over all rows.
        most_conforming, least_conforming: up to ``k`` examples, most extreme first.
        ids, labels, paths: per sample, as given (``paths`` may be ``None``).
        conformity: ``(n,)`` float64 exact conformity against the reference.
        estimated: ``(n,)`` float64 ``a·cos(m, v) + b`` (NaN when no fit was possible).
        counts: ``(bins,)`` int64 histogram of ``conformity`` on :attr:`Ranking.bin_edges`.
    """

    name: str
    modality: str
    is_reference: bool
    n: int
    failed: tuple[tuple[str, str], ...]
    mean: float
    median: float
    std: float
    quantiles: dict[str, float]
    kl: float
    w1: float
    ks: float
    ks_pvalue: float
    rank: int
    rank_by_mean: int
    most_conforming: tuple[Example, ...]
    least_conforming: tuple[Example, ...]
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    paths: tuple[Path | None, ...] | None
    conformity: np.ndarray
    estimated: np.ndarray
    counts: np.ndarray

    @property
    def n_failed(self) -> int:
        """Number of items that could not be embedded."""
        return len(self.failed)

    def summary(self) -> dict[str, Any]:
        """The JSON row: ``name, n, failed, mean_conformity, median_conformity, std_conformity,
        kl, w1, ks, rank, rank_by_mean`` plus ``modality, is_reference, ks_pvalue, quantiles``
        (``failed`` is the count; the items are in :meth:`Ranking.to_dict`)."""
        return {
            "name": self.name,
            "modality": self.modality,
            "is_reference": self.is_reference,
            "n": self.n,
            "failed": self.n_failed,
            "mean_conformity": _finite(self.mean),
            "median_conformity": _finite(self.median),
            "std_conformity": _finite(self.std),
            "quantiles": {k: _finite(v) for k, v in self.quantiles.items()},
            "kl": _finite(self.kl),
            "w1": _finite(self.w1),
            "ks": _finite(self.ks),
            "ks_pvalue": _finite(self.ks_pvalue),
            "rank": self.rank,
            "rank_by_mean": self.rank_by_mean,
        }


@dataclass(frozen=True, eq=False)
class Ranking:
    """The result of :func:`rank_sources`.

    Attributes:
        encoder_id: the encoder every source was embedded with (``None`` when no source
            recorded one).
        dim: embedding dimension ``D``.
        modality: the reference's modality.
        rows: the reference first, then the sources in input order.
        fit: the estimator ``a, b, pearson`` fitted on the reference, or ``None`` when the
            reference's ``cos(m, v)`` is constant (then every ``estimated`` is NaN).
        bin_edges: ``(bins + 1,)`` float64 equal bins over the pooled conformity range.
        smoothing: pseudo-count per bin used for ``kl``.
        primary_distance: the distance ``rank`` sorts by (``"w1"``).
    """

    encoder_id: str | None
    dim: int
    modality: str
    rows: tuple[SourceResult, ...]
    fit: EstimatorFit | None
    bin_edges: np.ndarray
    smoothing: float
    primary_distance: str = PRIMARY_DISTANCE

    @property
    def reference(self) -> SourceResult:
        """The reference row."""
        return self.rows[0]

    @property
    def sources(self) -> tuple[SourceResult, ...]:
        """The non-reference rows in input order."""
        return self.rows[1:]

    def ranked(self) -> list[SourceResult]:
        """Every row by ``rank``: the reference (0) first, then the closest source."""
        return sorted(self.rows, key=lambda r: r.rank)

    def __getitem__(self, name: str) -> SourceResult:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: encoder, reference, estimator fit, binning, the rows (ranked,
        see :meth:`SourceResult.summary`), the shared histogram, examples and failed items."""
        fit = self.fit
        return {
            "encoder": {"id": self.encoder_id, "dim": self.dim},
            "reference": {"name": self.reference.name, "modality": self.modality,
                          "n": self.reference.n, "failed": self.reference.n_failed},
            "estimator": {"a": None if fit is None else _finite(fit.a),
                          "b": None if fit is None else _finite(fit.b),
                          "pearson": None if fit is None else _finite(fit.pearson)},
            "primary_distance": self.primary_distance,
            "kl": {"direction": "KL(source || reference)", "bins": int(self.bin_edges.size - 1),
                   "range": [float(self.bin_edges[0]), float(self.bin_edges[-1])],
                   "smoothing": self.smoothing},
            "sources": [row.summary() for row in self.ranked()],
            "histogram": {"edges": [float(e) for e in self.bin_edges],
                          "counts": {row.name: [int(c) for c in row.counts]
                                     for row in self.rows}},
            "examples": {row.name: {
                "most_conforming": [e.to_dict() for e in row.most_conforming],
                "least_conforming": [e.to_dict() for e in row.least_conforming],
            } for row in self.rows},
            "failed": {row.name: [{"id": i, "reason": r} for i, r in row.failed]
                       for row in self.rows},
        }


# --------------------------------------------------------------------------------------------
# helpers


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(name, value, "expected an integer")
    if value < minimum:
        raise InputError(name, value, f"must be at least {minimum}")
    return int(value)


def _check_smoothing(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(float(value)) or float(value) <= 0:
        raise InputError("smoothing", value, "expected a finite pseudo-count > 0")
    return float(value)


@dataclass(frozen=True)
class _Checked:
    """A validated source: its embeddings and per-row metadata as plain tuples."""

    name: str
    modality: str
    X: np.ndarray
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    paths: tuple[Path | None, ...] | None
    failed: tuple[tuple[str, str], ...]
    encoder_id: str | None


def _check_source(src: Any, argument: str, *, min_rows: int) -> _Checked:
    missing = [a for a in ("name", "modality", "ids", "labels", "paths", "embeddings", "failed",
                           "encoder_id") if not hasattr(src, a)]
    if missing:
        raise InputError(argument, src, f"expected an embedded source (missing {missing})")
    name = src.name
    if not isinstance(name, str) or not name.strip():
        raise InputError(argument, name, "a source needs a non-empty name")
    failed = tuple((str(i), str(r)) for i, r in src.failed)
    X = np.asarray(src.embeddings)
    if X.ndim != 2 or X.shape[1] == 0:
        raise InputError(argument, name, f"embeddings must be a 2-D (N, D) matrix, got shape "
                                         f"{X.shape}")
    if X.shape[0] == 0:
        why = (f"every item failed ({len(failed)}; first: {failed[0][0]}: {failed[0][1]})"
               if failed else "it holds no items")
        raise InputError(argument, name, f"has nothing to rank: {why}")
    if X.shape[0] < min_rows:
        raise InputError(argument, name, f"needs at least {min_rows} embedded items, has "
                                         f"{X.shape[0]}")
    n = X.shape[0]
    ids = tuple(str(i) for i in src.ids)
    labels = tuple("" if lab is None else str(lab) for lab in src.labels)
    for what, seq in (("ids", ids), ("labels", labels)):
        if len(seq) != n:
            raise InputError(argument, name, f"has {len(seq)} {what} for {n} embeddings")
    paths = None
    if src.paths is not None:
        paths = tuple(None if p is None else Path(p) for p in src.paths)
        if len(paths) != n:
            raise InputError(argument, name, f"has {len(paths)} paths for {n} embeddings")
    return _Checked(name=name, modality=str(src.modality), X=X, ids=ids, labels=labels,
                    paths=paths, failed=failed,
                    encoder_id=None if src.encoder_id is None else str(src.encoder_id))


def _check_compatible(ref: _Checked, src: _Checked, argument: str) -> None:
    if None not in (src.encoder_id, ref.encoder_id) and src.encoder_id != ref.encoder_id:
        raise InputError(argument, src.name,
                         f"was embedded with encoder {src.encoder_id!r} but the reference "
                         f"{ref.name!r} with {ref.encoder_id!r}; conformity is only comparable "
                         f"within one encoder")
    if src.X.shape[1] != ref.X.shape[1]:
        raise InputError(argument, src.name,
                         f"has dimension D={src.X.shape[1]} but the reference {ref.name!r} has "
                         f"D={ref.X.shape[1]}")
    check_same_modality(ref.name, ref.modality, src.name, src.modality, argument)


def check_same_modality(reference_name: str, reference_modality: str, name: str, modality: str,
                        argument: str) -> None:
    """Raise :class:`InputError` (naming ``argument``) when a source's modality and the
    reference's are both known (``"image"``/``"text"``) and differ; other labels (such as
    ``"embeddings"``) are not checked. Callers use it to refuse a mix before embedding."""
    known = {"image", "text"}
    if modality in known and reference_modality in known and modality != reference_modality:
        raise InputError(argument, name,
                         f"holds {modality}s but the reference {reference_name!r} holds "
                         f"{reference_modality}s; CLIP's modalities sit on separate shells, so "
                         f"conformity is only comparable within one modality")


def _pooled_edges(values: Sequence[np.ndarray], bins: int) -> np.ndarray:
    """``bins + 1`` equal edges over the range of all values (a unit-wide window around them
    when they are all equal)."""
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    if not hi - lo > 1e-12:
        lo, hi = 0.5 * (lo + hi) - 0.5, 0.5 * (lo + hi) + 0.5
    return np.linspace(lo, hi, bins + 1)


def _examples(src: ScoredSource, k: int) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """The ``k`` highest and ``k`` lowest conformity samples, most extreme first (ties by
    index), in ``O(N)`` with ``argpartition``."""
    c, est = src.conformity, src.estimated
    n = c.shape[0]
    k = min(k, n)
    if k == 0:
        return (), ()

    def pick(order_key: np.ndarray) -> tuple[Example, ...]:
        idx = np.argpartition(order_key, k - 1)[:k] if k < n else np.arange(n)
        idx = idx[np.lexsort((idx, order_key[idx]))]
        return tuple(Example(id=src.ids[i], label=src.labels[i],
                             path=None if src.paths is None else src.paths[i],
                             conformity=float(c[i]),
                             estimated=float(est[i]) if math.isfinite(est[i]) else None)
                     for i in idx)

    return pick(-c), pick(c)


def _describe(c: np.ndarray) -> tuple[float, float, float, dict[str, float]]:
    qs = np.quantile(c, QUANTILES)
    quantiles = {f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    return float(c.mean()), float(np.median(c)), float(c.std()), quantiles


def _order(keys: Sequence[tuple[float, ...]]) -> list[int]:
    """1-based ranks of ``keys`` (ascending; ties by position)."""
    order = sorted(range(len(keys)), key=lambda i: (*keys[i], i))
    ranks = [0] * len(keys)
    for position, i in enumerate(order):
        ranks[i] = position + 1
    return ranks


# --------------------------------------------------------------------------------------------
# ranking


@dataclass(frozen=True, eq=False)
class ScoredSource:
    """A validated source and the per-sample scores of its embedded items.

    Attributes:
        name, modality, encoder_id: from the source.
        ids, labels: per embedded item.
        paths: per embedded item, or ``None``.
        failed: ``(id, reason)`` of the items that were not embedded.
        conformity: ``(n,)`` float64 exact conformity against the reference (in-set for the
            reference itself).
        estimated: ``(n,)`` float64 ``a·cos(m, v) + b`` (NaN when no fit was possible).
    """

    name: str
    modality: str
    encoder_id: str | None
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    paths: tuple[Path | None, ...] | None
    failed: tuple[tuple[str, str], ...]
    conformity: np.ndarray
    estimated: np.ndarray


@dataclass(frozen=True, eq=False)
class Scores:
    """What :func:`score_sources` computed: the reference's row first, then the sources in
    input order; the estimator fitted on the reference (``None`` when impossible); ``D``."""

    rows: tuple[ScoredSource, ...]
    fit: EstimatorFit | None
    dim: int


def _check_sources(reference: Any, sources: Any) -> list[_Checked]:
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise InputError("sources", sources, "expected a sequence of embedded sources")
    if len(sources) == 0:
        raise InputError("sources", sources, "expected at least one source to rank")
    ref = _check_source(reference, "reference", min_rows=2)
    checked = [ref]
    seen = {ref.name}
    for i, src in enumerate(sources):
        item = _check_source(src, f"sources[{i}]", min_rows=1)
        if item.name in seen:
            raise InputError(f"sources[{i}]", item.name,
                             "duplicate name; every source (and the reference) needs its own")
        seen.add(item.name)
        _check_compatible(ref, item, f"sources[{i}]")
        checked.append(item)
    return checked


def score_sources(reference: EmbeddedSourceLike,
                  sources: Sequence[EmbeddedSourceLike]) -> Scores:
    """Exact and estimated conformity of every embedded sample against the reference: the
    ``O(N·D)`` part of :func:`rank_sources` (its arguments and errors are the same)."""
    checked = _check_sources(reference, sources)
    ref = checked[0]
    # Exact conformity: the reference in-set, every source against the reference's ū.
    meter = ConformityMeter(encoder=ref.encoder_id or "unknown", source=ref.name)
    meter.update(ref.X)
    ref_mean = meter.compute().reference
    exact = [meter.scores(ref.X)]
    exact += [conformity(s.X, ref_mean, name=f"embeddings of {s.name!r}") for s in checked[1:]]
    # Estimated conformity a·cos(m, v) + b with a, b fitted on the reference.
    fit: EstimatorFit | None
    try:
        fit = _fit_estimator(ref.X, ref_mean.mean)
    except InputError:  # cos(m, v) constant over the reference: no line to fit
        fit = None
    rows = tuple(
        ScoredSource(name=s.name, modality=s.modality, encoder_id=s.encoder_id, ids=s.ids,
                     labels=s.labels, paths=s.paths, failed=s.failed, conformity=c,
                     estimated=np.full(s.X.shape[0], np.nan) if fit is None
                     else estimated_conformity(s.X, ref_mean.mean, fit.a, fit.b))
        for s, c in zip(checked, exact, strict=True))
    return Scores(rows=rows, fit=fit, dim=int(ref.X.shape[1]))


def rank_scores(scores: Scores, *, bins: int = DEFAULT_BINS,
                smoothing: float = DEFAULT_SMOOTHING,
                examples: int = DEFAULT_EXAMPLES) -> Ranking:
    """Statistics, distances, ranks and examples from :func:`score_sources`' scores: the
    ``O(N log N)`` part of :func:`rank_sources` (same ``bins``, ``smoothing``, ``examples``)."""
    if not isinstance(scores, Scores):
        raise InputError("scores", scores, "expected the Scores of score_sources()")
    bins = _check_int(bins, "bins", 1)
    smoothing = _check_smoothing(smoothing)
    examples = _check_int(examples, "examples", 0)
    values = [row.conformity for row in scores.rows]
    edges = _pooled_edges(values, bins)
    value_range = (float(edges[0]), float(edges[-1]))
    ref_c = values[0]
    described = [_describe(c) for c in values]
    distances: list[tuple[float, float, float, float]] = [(0.0, 0.0, 0.0, 1.0)]
    for c in values[1:]:
        kl = histogram_kl(c, ref_c, bins=bins, value_range=value_range, smoothing=smoothing)
        w1 = float(stats.wasserstein_distance(c, ref_c))
        ks = stats.ks_2samp(c, ref_c)
        distances.append((kl, w1, float(ks.statistic), float(ks.pvalue)))

    by_distance = _order([(d[1], d[2]) for d in distances[1:]])
    by_mean = _order([(d[0],) for d in described])
    rows = []
    for i, src in enumerate(scores.rows):
        c, est = src.conformity, src.estimated
        mean, median, std, quantiles = described[i]
        kl, w1, ks, ks_p = distances[i]
        most, least = _examples(src, examples)
        rows.append(SourceResult(
            name=src.name, modality=src.modality, is_reference=i == 0, n=int(c.shape[0]),
            failed=src.failed, mean=mean, median=median, std=std, quantiles=quantiles,
            kl=kl, w1=w1, ks=ks, ks_pvalue=ks_p, rank=0 if i == 0 else by_distance[i - 1],
            rank_by_mean=by_mean[i], most_conforming=most, least_conforming=least,
            ids=src.ids, labels=src.labels, paths=src.paths, conformity=c, estimated=est,
            counts=np.histogram(np.clip(c, edges[0], edges[-1]), bins=edges)[0].astype(np.int64),
        ))
    encoder_id = next((s.encoder_id for s in scores.rows if s.encoder_id is not None), None)
    return Ranking(encoder_id=encoder_id, dim=scores.dim, modality=scores.rows[0].modality,
                   rows=tuple(rows), fit=scores.fit, bin_edges=edges, smoothing=smoothing)


def rank_sources(reference: EmbeddedSourceLike, sources: Sequence[EmbeddedSourceLike], *,
                 bins: int = DEFAULT_BINS, smoothing: float = DEFAULT_SMOOTHING,
                 examples: int = DEFAULT_EXAMPLES) -> Ranking:
    """Score every sample against the reference and rank the sources (see the module docstring).

    The same as ``rank_scores(score_sources(reference, sources), ...)``, with every argument
    validated before any work.

    Args:
        reference: the reference set (real images, human captions): an embedded source with at
            least 2 embedded items.
        sources: one or more embedded sources to compare, each with at least 1 embedded item,
            the reference's ``D``, the reference's ``encoder_id`` (checked when both are
            known, i.e. not ``None``) and modality (checked when both are ``"image"``/
            ``"text"``). Names must be unique (the reference's included).
        bins: equal bins over the pooled conformity range for ``kl`` and the histograms (≥ 1).
        smoothing: pseudo-count added to every bin before ``kl`` (> 0).
        examples: most / least conforming examples kept per row (≥ 0).

    Returns:
        :class:`Ranking` with the reference as ``rows[0]``.

    Raises:
        InputError: no sources, a duplicate or empty name, a source with no embedded item
            (e.g. every item failed), a reference with fewer than 2, mismatched ``ids``/
            ``labels``/``paths`` lengths, another encoder, dimension or modality, NaN/Inf or
            zero rows, bad ``bins``/``smoothing``/``examples``.
    """
    _check_int(bins, "bins", 1)
    _check_smoothing(smoothing)
    _check_int(examples, "examples", 0)
    return rank_scores(score_sources(reference, sources), bins=bins, smoothing=smoothing,
                       examples=examples)
