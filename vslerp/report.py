"""Reports: self-contained HTML pages, PNG figures, CSV and JSON files.

Two reports share one set of helpers (jinja2 environment, figure creation, PNG encoding, file
writing):

* :func:`write_ranking_report` for a :class:`vslerp.ranking.Ranking` (``vslerp rank``):
  ``report.html``, ``histogram.png`` (overlaid conformity histograms, as in the paper's
  Fig. 13), ``cdf.png``, ``ranking.csv``, ``ranking.json`` and ``scores.csv``.
* :func:`write_geometry_report` for a :class:`vslerp.geometry.GeometryReport`
  (``vslerp geometry``): ``report.html``, ``geometry.json`` and one PNG per analysis.

Safety and robustness:

* HTML is rendered by jinja2 with autoescaping on, so captions, file names and source names
  cannot inject markup; the page carries a Content-Security-Policy that allows no scripts and
  no external resources, and everything (CSS, plots, thumbnails) is embedded, so the file
  works offline and can be mailed around.
* CSV cells are written by :mod:`vslerp.tabular`, which neutralises spreadsheet formulas.
* Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no ``pyplot``
  global state), so reports can be rendered from several threads (the web UI). Text from users
  is passed to matplotlib with ``$`` escaped, so it is never parsed as mathtext.
* Everything is rendered in memory first; only then are the files written, each atomically
  (:mod:`vslerp.fileio`), data files first and ``report.html`` last. A failure while rendering
  leaves an existing report untouched; re-running into the same folder replaces the files.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vslerp import __version__
from vslerp.errors import InputError
from vslerp.fileio import write_bytes_atomic, write_json_atomic, write_text_atomic
from vslerp.geometry import GeometryReport, ModalityGeometry
from vslerp.imaging import ImageLoadError, load_image, to_data_uri
from vslerp.ranking import Ranking, SourceResult
from vslerp.tabular import write_csv_atomic

__all__ = [
    "MAX_FAILED_SHOWN",
    "PALETTE",
    "REFERENCE_COLOR",
    "THUMBNAIL_SIDE",
    "write_geometry_report",
    "write_ranking_report",
]

#: Colours given to sources in order (colour-blind friendly, Okabe–Ito).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9",
                            "#F0E442", "#8C564B", "#7F7F7F", "#17BECF")
#: The reference's colour (drawn as an outline, not filled).
REFERENCE_COLOR = "#1F2328"
#: Colours of the two modalities in geometry figures.
MODALITY_COLORS = {"images": "#0072B2", "texts": "#D55E00"}
#: Longest side of a thumbnail in the ranking report, in pixels.
THUMBNAIL_SIDE = 180
#: Failed items listed per source in the HTML (all are in ``ranking.json``).
MAX_FAILED_SHOWN = 200

_TEMPLATES = Path(__file__).with_name("report_templates")
_DPI = 110
_LABEL_LIMIT = 48


# --------------------------------------------------------------------------------------------
# shared helpers


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The jinja2 environment: templates from ``vslerp/report_templates``, autoescape on,
    undefined variables are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(version=__version__, **context)


def _new_figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, Any]:
    """A figure on the Agg canvas with ``ncols`` axes side by side (an array when > 1)."""
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=True)
    return fig, axes


def _style(ax: Any, *, xlabel: str, ylabel: str, title: str | None = None) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, color="#e5e8eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _plain(text: str, limit: int = _LABEL_LIMIT) -> str:
    """User text made safe for a matplotlib label: shortened, one line, ``$`` escaped so that
    it is never parsed as mathtext."""
    one_line = " ".join(str(text).split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return one_line.replace("$", r"\$")


@dataclass(frozen=True)
class _Figure:
    """A rendered figure: its PNG bytes, file name, caption and alt text."""

    file: str
    png: bytes
    width: int
    height: int
    caption: str
    alt: str

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _finish(fig: Figure, file: str, caption: str, alt: str | None = None) -> _Figure:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    png = buffer.getvalue()
    width, height = (int(v) for v in fig.canvas.get_width_height())
    return _Figure(file=file, png=png, width=width, height=height, caption=caption,
                   alt=alt or caption)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _check_out_dir(out_dir: Any) -> Path:
    if not isinstance(out_dir, (str, os.PathLike)) or str(out_dir) == "":
        raise InputError("out_dir", out_dir, "expected a folder path")
    path = Path(out_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError("out_dir", str(path), "exists and is not a folder")
    return path


def _write_files(out_dir: Path, files: Mapping[str, tuple[str, bytes | str | Callable[[Path],
                                                                                        Any]]],
                 remove: Iterable[str] = ()) -> dict[str, Path]:
    """Write ``key -> (file name, content)`` atomically in order; ``content`` is bytes, text,
    or a callable that writes the file itself (atomically). Then delete the stale optional
    files named in ``remove``. Returns ``key -> path``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for key, (name, content) in files.items():
        path = out_dir / name
        if isinstance(content, bytes):
            write_bytes_atomic(path, content)
        elif isinstance(content, str):
            write_text_atomic(path, content)
        else:
            content(path)
        written[key] = path
    for name in remove:
        stale = out_dir / name
        if stale.is_file():
            stale.unlink()
    return written


# --------------------------------------------------------------------------------------------
# ranking report


def _colors(ranking: Ranking) -> dict[str, str]:
    colors = {ranking.reference.name: REFERENCE_COLOR}
    for i, row in enumerate(ranking.sources):
        colors[row.name] = PALETTE[i % len(PALETTE)]
    return colors


def _histogram_figure(ranking: Ranking, colors: Mapping[str, str]) -> _Figure:
    fig, ax = _new_figure(8.6, 4.4)
    edges = ranking.bin_edges
    widths = np.diff(edges)
    for row in (*ranking.sources, ranking.reference):  # the reference on top
        density = row.counts / (row.n * widths)
        label = _plain(f"{row.name} (n={row.n}, mean {row.mean:.3f})")
        if row.is_reference:
            ax.stairs(density, edges, fill=True, color="#d0d7de", alpha=0.35, zorder=3)
            ax.stairs(density, edges, color=REFERENCE_COLOR, linewidth=2.2, zorder=5,
                      label=_plain(f"reference: {row.name} (n={row.n}, mean {row.mean:.3f})"))
        else:
            color = colors[row.name]
            ax.stairs(density, edges, fill=True, color=color, alpha=0.28, zorder=2)
            ax.stairs(density, edges, color=color, linewidth=1.5, zorder=4, label=label)
        ax.axvline(row.mean, color=colors[row.name], linestyle="--", linewidth=1.1, zorder=6)
    _style(ax, xlabel="conformity C(v) against the reference", ylabel="density",
           title=_plain(f"Conformity distributions vs reference '{ranking.reference.name}'",
                        90))
    ax.legend(frameon=False, fontsize=9, loc="upper left")
    return _finish(fig, "histogram.png",
                   "Overlaid conformity histograms (densities on shared bins), one colour per "
                   "source; the reference is the black outline.",
                   "Overlaid conformity histograms of every source and the reference")


def _cdf_figure(ranking: Ranking, colors: Mapping[str, str]) -> _Figure:
    fig, ax = _new_figure(8.6, 3.6)
    levels = np.linspace(0.0, 1.0, 513)
    for row in (*ranking.sources, ranking.reference):
        values = np.quantile(row.conformity, levels)
        ref = row.is_reference
        ax.plot(values, levels, color=colors[row.name], linewidth=2.2 if ref else 1.6,
                zorder=5 if ref else 3,
                label=_plain(("reference: " if ref else "") + row.name))
    _style(ax, xlabel="conformity C(v) against the reference", ylabel="fraction of samples ≤ C",
           title="Cumulative distributions")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    return _finish(fig, "cdf.png", "Empirical cumulative distributions of conformity.",
                   "Cumulative distributions of conformity per source")


def _thumbnail(path: Path | None) -> tuple[str | None, str | None]:
    """``(data URI, None)`` for an image file, or ``(None, reason)`` when it cannot be shown."""
    if path is None:
        return None, "no file"
    try:
        return to_data_uri(load_image(path), max_side=THUMBNAIL_SIDE, quality=82), None
    except ImageLoadError as err:
        return None, err.problem
    except OSError as err:
        return None, str(err)


def _example_views(row: SourceResult, show_images: bool) -> dict[str, list[dict[str, Any]]]:
    views: dict[str, list[dict[str, Any]]] = {}
    for key, examples in (("most", row.most_conforming), ("least", row.least_conforming)):
        items = []
        for ex in examples:
            uri, problem = _thumbnail(ex.path) if show_images else (None, None)
            items.append({"id": ex.id, "label": ex.label, "conformity": ex.conformity,
                          "uri": uri, "problem": problem})
        views[key] = items
    return views


def _row_view(row: SourceResult, color: str) -> dict[str, Any]:
    show_images = row.paths is not None and row.modality == "image"
    return {
        "name": row.name, "is_reference": row.is_reference, "color": color, "rank": row.rank,
        "n": row.n, "n_failed": row.n_failed, "mean": row.mean, "median": row.median,
        "std": row.std, "quantiles": row.quantiles, "kl": row.kl, "w1": row.w1, "ks": row.ks,
        "rank_by_mean": row.rank_by_mean, "show_images": show_images,
        "failed": list(row.failed), "failed_shown": list(row.failed[:MAX_FAILED_SHOWN]),
        **_example_views(row, show_images),
    }


_RANKING_COLUMNS = ("rank", "name", "is_reference", "n", "failed", "mean_conformity",
                    "median_conformity", "std_conformity", "q05", "q25", "q75", "q95", "kl",
                    "w1", "ks", "ks_pvalue", "rank_by_mean")


def _ranking_rows(ranking: Ranking) -> list[list[Any]]:
    rows = []
    for row in ranking.ranked():
        s = row.summary()
        s.update(s.pop("quantiles"))
        rows.append([s[c] for c in _RANKING_COLUMNS])
    return rows


_SCORE_COLUMNS = ("source", "id", "item", "conformity", "estimated")


def _score_rows(ranking: Ranking) -> Iterable[list[Any]]:
    for row in ranking.rows:
        est = row.estimated
        for i in range(row.n):
            e = float(est[i])
            yield [row.name, row.ids[i], row.labels[i], float(row.conformity[i]),
                   e if math.isfinite(e) else None]


def write_ranking_report(ranking: Ranking, out_dir: str | os.PathLike[str], *,
                         title: str | None = None) -> dict[str, Path]:
    """Write the ranking report into ``out_dir`` (created if needed).

    Files:
        ``report.html``: self-contained page: what conformity is (formula), encoder and
        reference, the overlaid histograms and CDFs, the ranking table (n, failed, mean /
        median / std conformity, 5–95 % range, KL, W1, KS, ranks), per source its least and
        most conforming examples (thumbnails for images, quoted text for captions) and its
        failed items (collapsed).
        ``histogram.png``, ``cdf.png``: the two figures.
        ``ranking.csv``: one row per source, ranked: ``rank, name, is_reference, n, failed,
        mean_conformity, median_conformity, std_conformity, q05, q25, q75, q95, kl, w1, ks,
        ks_pvalue, rank_by_mean``.
        ``ranking.json``: :meth:`Ranking.to_dict` (``sources: [{name, n, failed,
        mean_conformity, median_conformity, std_conformity, kl, w1, ks, rank, rank_by_mean,
        ...}]``, encoder, reference, estimator, binning, histogram, examples, failed items).
        ``scores.csv``: every sample: ``source, id, item, conformity, estimated`` (reference
        first, then the sources in input order; ``item`` is the file name or caption).

    Args:
        ranking: from :func:`vslerp.ranking.rank_sources`.
        out_dir: the report folder; existing report files in it are replaced.
        title: page title (default ``"Conformity ranking against <reference>"``).

    Returns:
        ``{"html", "histogram", "cdf", "ranking_csv", "ranking_json", "scores_csv"}`` → path.

    Raises:
        InputError: ``ranking`` is not a :class:`Ranking`, or ``out_dir`` is a file.
    """
    if not isinstance(ranking, Ranking):
        raise InputError("ranking", ranking, "expected a vslerp.ranking.Ranking")
    out = _check_out_dir(out_dir)
    if title is not None and not isinstance(title, str):
        raise InputError("title", title, "expected a string")
    colors = _colors(ranking)
    figures = {"histogram": _histogram_figure(ranking, colors), "cdf": _cdf_figure(ranking, colors)}
    ranked = ranking.ranked()
    sources = [r for r in ranked if not r.is_reference]
    by_mean = sorted(ranking.rows, key=lambda r: r.rank_by_mean)
    file_names = ["report.html", "histogram.png", "cdf.png", "ranking.csv", "ranking.json",
                  "scores.csv"]
    reference = ranking.reference
    meta = [("encoder", ranking.encoder_id or "unknown"), ("dimension", str(ranking.dim)),
            ("reference", f"{reference.name} (n = {reference.n})"),
            *[(row.name, f"n = {row.n}" + (f", {row.n_failed} failed" if row.n_failed else ""))
              for row in ranking.sources]]
    data = ranking.to_dict()
    html = _render(
        "ranking.html.j2",
        title=title or f"Conformity ranking against {reference.name}",
        subtitle=f"{len(ranking.sources)} source(s) compared with the {ranking.modality} "
                 f"reference '{reference.name}' by the distribution of conformity.",
        meta=meta,
        reference=reference,
        closest=sources[0] if sources else None,
        rarest=by_mean[0],
        most_generic=by_mean[-1],
        figures=figures,
        rows=[_row_view(r, colors[r.name]) for r in ranked],
        fit=ranking.fit,
        kl=data["kl"],
        files=file_names,
    )
    files: dict[str, tuple[str, Any]] = {
        "scores_csv": ("scores.csv", lambda path: write_csv_atomic(path, _SCORE_COLUMNS,
                                                                   _score_rows(ranking))),
        "ranking_csv": ("ranking.csv", lambda path: write_csv_atomic(path, _RANKING_COLUMNS,
                                                                     _ranking_rows(ranking))),
        "ranking_json": ("ranking.json", functools.partial(_write_json, data)),
        "histogram": ("histogram.png", figures["histogram"].png),
        "cdf": ("cdf.png", figures["cdf"].png),
        "html": ("report.html", html),
    }
    return _write_files(out, files)


def _write_json(data: Any, path: Path) -> Path:
    return write_json_atomic(path, data)


# --------------------------------------------------------------------------------------------
# geometry report

def _modalities(report: GeometryReport) -> list[tuple[str, ModalityGeometry]]:
    return [("images", report.images), ("texts", report.texts)]


def _thin_shell_figure(report: GeometryReport) -> _Figure:
    fig, axes = _new_figure(9.6, 3.6, 2)
    for name, geo in _modalities(report):
        shell = geo.thin_shell
        color = MODALITY_COLORS[name]
        for ax, hist, radius in ((axes[0], shell.raw_norms, shell.radius_predicted),
                                 (axes[1], shell.centered_norms,
                                  shell.centered_radius_predicted)):
            edges, counts = np.asarray(hist.edges), np.asarray(hist.counts)
            density = counts / max(1, counts.sum()) / np.diff(edges)
            ax.stairs(density, edges, fill=True, alpha=0.3, color=color)
            ax.stairs(density, edges, color=color, linewidth=1.4, label=name)
            ax.axvline(radius, color=color, linestyle=":", linewidth=1.3)
    _style(axes[0], xlabel="‖v‖", ylabel="density", title="Raw norms")
    _style(axes[1], xlabel="‖v − m‖", ylabel="density", title="Distance to the modality mean")
    axes[0].set_xlim(left=0)
    axes[0].legend(frameon=False, fontsize=9)
    return _finish(fig, "thin_shell.png",
                   "Norm histograms per modality; dotted lines: radii predicted from the means "
                   "and variances.", "Histograms of embedding norms per modality")


def _spectrum_figure(report: GeometryReport) -> _Figure:
    fig, axes = _new_figure(9.6, 3.6, 2)
    for name, geo in _modalities(report):
        spec = geo.spectrum
        color = MODALITY_COLORS[name]
        eig = np.asarray(spec.eigenvalues, dtype=float)
        k = np.arange(1, eig.size + 1)
        positive = eig > 0
        axes[0].plot(k[positive], eig[positive], color=color, linewidth=1.6, label=name)
        explained = np.asarray(spec.explained_variance, dtype=float)
        axes[1].plot(k, explained, color=color, linewidth=1.6, label=name)
        axes[1].plot([spec.n_components_90], [explained[spec.n_components_90 - 1]], "o",
                     color=color, markersize=5)
    axes[0].set_yscale("log")
    _style(axes[0], xlabel="component", ylabel="covariance eigenvalue",
           title="Variance spectrum")
    _style(axes[1], xlabel="components", ylabel="explained variance",
           title="Cumulative explained variance (dot: 90 %)")
    axes[1].axhline(0.9, color="#8c959f", linestyle=":", linewidth=1)
    axes[0].legend(frameon=False, fontsize=9)
    return _finish(fig, "spectrum.png",
                   "Covariance eigenvalues per modality and the cumulative share of variance.",
                   "Variance spectra of images and texts")


def _subsample_rows(x: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if x.shape[0] <= limit:
        return x
    keep = np.sort(np.random.default_rng(seed).choice(x.shape[0], limit, replace=False))
    return x[keep]


def _separability_figure(report: GeometryReport, images: np.ndarray | None,
                         texts: np.ndarray | None) -> _Figure:
    sep = report.separability
    fig, axes = _new_figure(9.6, 3.8, 2)
    top = list(sep.top_features)
    fisher = np.asarray(sep.fisher, dtype=float)
    finite_max = np.nanmax(np.where(np.isfinite(fisher), fisher, np.nan)) \
        if np.isfinite(fisher).any() else 1.0
    values = [fisher[f] if math.isfinite(fisher[f]) else finite_max for f in top]
    axes[0].barh(range(len(top)), values, color="#6e7781")
    axes[0].set_yticks(range(len(top)), [f"feature {f}" for f in top], fontsize=8)
    axes[0].invert_yaxis()
    _style(axes[0], xlabel="Fisher ratio (m_I − m_T)² / (σ_I² + σ_T²)", ylabel="",
           title="Most separating features")
    f0, f1 = sep.pair
    ax = axes[1]
    if images is not None and texts is not None:
        for name, x in (("images", images), ("texts", texts)):
            pts = _subsample_rows(np.asarray(x), 3000, 0)
            ax.scatter(pts[:, f0], pts[:, f1], s=6, alpha=0.45, color=MODALITY_COLORS[name],
                       label=name, linewidths=0)
        _style(ax, xlabel=f"feature {f0}", ylabel=f"feature {f1}",
               title=f"Two best features (held-out accuracy {sep.pair_heldout_accuracy:.3f})")
        ax.legend(frameon=False, fontsize=9, markerscale=2.5)
    else:  # no raw embeddings: the stored per-feature histograms of the best feature
        img_hist, txt_hist = sep.pair_histograms[0]
        for name, hist in (("images", img_hist), ("texts", txt_hist)):
            edges, counts = np.asarray(hist.edges), np.asarray(hist.counts)
            ax.stairs(counts, edges, fill=True, alpha=0.35, color=MODALITY_COLORS[name],
                      label=name)
        _style(ax, xlabel=f"feature {f0}", ylabel="count",
               title=f"Best feature (two-feature held-out accuracy "
                     f"{sep.pair_heldout_accuracy:.3f})")
        ax.legend(frameon=False, fontsize=9)
    return _finish(fig, "separability.png",
                   "Per-feature separability of images and texts and the samples on the two "
                   "most separating features.", "Image/text separability per feature")


def _conformity_figure(report: GeometryReport) -> _Figure:
    fig, axes = _new_figure(9.6, 4.0, 2)
    for ax, (name, geo) in zip(axes, _modalities(report), strict=True):
        ca = geo.conformity
        exact = np.asarray(ca.conformity, dtype=float)
        cos = np.asarray(ca.cos_to_mean, dtype=float)
        color = MODALITY_COLORS[name]
        if math.isfinite(ca.a) and math.isfinite(ca.b):
            estimate = ca.a * cos + ca.b
            ax.scatter(estimate, exact, s=6, alpha=0.45, color=color, linewidths=0)
            both = np.concatenate([estimate, exact])
            lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
            ax.plot([lo, hi], [lo, hi], color="#57606a", linewidth=1, linestyle="--")
            r = "–" if not math.isfinite(ca.pearson) else f"{ca.pearson:.4f}"
            title = f"{name}: a = {ca.a:.3f}, b = {ca.b:.3f}, Pearson r = {r}"
        else:
            ax.text(0.5, 0.5, "no fit: cos(m, v) is constant or m = 0", ha="center",
                    va="center", transform=ax.transAxes, color="#57606a")
            title = f"{name}: no estimator fit"
        _style(ax, xlabel="estimated a·cos(m, v) + b", ylabel="exact conformity C(v)",
               title=title)
    return _finish(fig, "conformity.png",
                   "Exact conformity against its estimate from the cosine to the modality "
                   "mean; dashed: y = x.", "Exact vs estimated conformity per modality")


def _contrastive_figure(report: GeometryReport) -> _Figure | None:
    con = report.contrastive
    if con is None:
        return None
    fig, ax = _new_figure(8.6, 3.8)
    alphas = np.asarray(con.alphas, dtype=float)
    ax.plot(alphas, con.loss, color="#1f2328", linewidth=2, label=f"all pairs ({con.n_pairs})")
    if con.loss_correct is not None:
        ax.plot(alphas, con.loss_correct, color="#1a7f37", linewidth=1.6,
                label=f"correct at α = 0 ({con.n_correct})")
    if con.loss_misclassified is not None:
        ax.plot(alphas, con.loss_misclassified, color="#cf222e", linewidth=1.6,
                label=f"misclassified at α = 0 ({con.n_misclassified})")
    for x in (0.0, 1.0):
        ax.axvline(x, color="#8c959f", linestyle=":", linewidth=1)
    _style(ax, xlabel="mean shift α (v → v − α·m)", ylabel="contrastive loss (InfoNCE)",
           title=f"Contrastive loss vs mean shift (logit scale {con.logit_scale:g})")
    ax.legend(frameon=False, fontsize=9)
    return _finish(fig, "contrastive.png",
                   "Symmetric InfoNCE loss of the image–caption pairs against the mean shift.",
                   "Contrastive loss against the mean shift alpha")


def _kl_figure(report: GeometryReport) -> _Figure:
    kl = report.conformity_kl
    fig, ax = _new_figure(8.6, 3.6)
    alphas = np.asarray(kl.alphas, dtype=float)
    ax.plot(alphas, kl.kl_image_text, color=MODALITY_COLORS["images"], linewidth=1.8,
            label="KL(images ‖ texts)")
    ax.plot(alphas, kl.kl_text_image, color=MODALITY_COLORS["texts"], linewidth=1.8,
            label="KL(texts ‖ images)")
    best = int(np.argmin(np.asarray(kl.kl_image_text)))
    ax.plot([alphas[best]], [kl.kl_image_text[best]], "o", color=MODALITY_COLORS["images"])
    ax.axvline(0.0, color="#8c959f", linestyle=":", linewidth=1)
    _style(ax, xlabel="mean shift α (v → v − α·m)", ylabel="KL divergence (nats)",
           title=f"Conformity KL between modalities (lowest at α = {kl.best_alpha:g})")
    ax.legend(frameon=False, fontsize=9)
    return _finish(fig, "conformity_kl.png",
                   "KL divergence between the image and text conformity distributions against "
                   "the mean shift.", "Conformity KL divergence against the mean shift alpha")


_HEADINGS = {
    "thin_shell": "Thin shells: norms per modality",
    "spectrum": "Ellipsoids: variance spectra",
    "separability": "Two modalities: per-feature separability",
    "conformity": "Conformity and the modality mean",
    "contrastive": "Contrastive loss against the mean shift α",
    "conformity_kl": "Conformity KL divergence against the mean shift α",
}

_GUIDES = {
    "thin_shell": "Each modality's norms form a narrow peak far from zero: the embeddings lie on a "
                  "thin shell, not inside a ball. The right panel measures the distance to the "
                  "modality's own mean m; a narrow peak there means the shell is centred on m, "
                  "away from the origin. Dotted lines are the radii predicted from the "
                  "per-feature means and variances.",
    "spectrum": "A sphere would give a flat spectrum. A steep one means the shell is an "
                "ellipsoid stretched along a few directions; the dot marks how many directions "
                "hold 90 % of the variance.",
    "separability": "Left: features whose values alone tell images from texts (Fisher ratio: "
                    "squared mean difference over summed variances). Right: every sample on the "
                    "two best features; separate clouds mean the two modalities occupy separate "
                    "regions, as on two ellipsoids.",
    "conformity": "Each dot is a sample. Exact conformity (mean cosine to every other sample of "
                  "its modality) against the cheap estimate a·cos(m, v) + b from its cosine to the "
                  "modality mean. Dots on the dashed diagonal mean the estimate is exact (the "
                  "paper reports Pearson 0.9998 on MS-COCO).",
    "contrastive": "CLIP's contrastive loss after moving both modalities by α times their means "
                   "(α = 0: CLIP as trained; α = 1: both shells centred at the origin). Pairs that "
                   "CLIP matches correctly at α = 0 and pairs it gets wrong are drawn separately: "
                   "the mean offset helps one group at the expense of the other.",
    "conformity_kl": "How different the conformity distributions of images and texts are after "
                     "the same shift. The lowest point is the shift at which the two modalities "
                     "agree best on which samples are common and which are rare.",
}


def _numbers(report: GeometryReport) -> list[tuple[str, list[tuple[str, str]]]]:
    per_modality = []
    for name, geo in _modalities(report):
        ts, ca = geo.thin_shell, geo.conformity
        per_modality.append((name.capitalize(), [
            ("samples", str(geo.n)),
            ("mean ‖v‖ (predicted radius)",
             f"{_num(ts.raw_norm_mean, 3)} ({_num(ts.radius_predicted, 3)})"),
            ("thin-shell ratio var(y)/μ²", _num(ts.thin_shell_ratio, 5)),
            ("mean offset ‖m‖/‖σ‖", _num(geo.mean_offset.ratio, 3)),
            ("participation ratio", _num(geo.spectrum.participation_ratio, 2)),
            ("components for 90 % variance", str(geo.spectrum.n_components_90)),
            ("off-diagonal dominant rows", _num(geo.off_diagonal.fraction_dominant, 3)),
            ("conformity fit a, b", f"{_num(ca.a, 4)}, {_num(ca.b, 4)}"),
            ("conformity Pearson r", _num(ca.pearson, 5)),
        ]))
    gap, sep, kl = report.modality_gap, report.separability, report.conformity_kl
    cross = [
        ("modality gap ‖c_I − c_T‖", _num(gap.gap, 4)),
        ("cosine of the unit centroids", _num(gap.centroid_cosine, 4)),
        ("perfectly separating features", str(sep.n_perfect_features)),
        ("two-feature accuracy (train / held-out)",
         f"{_num(sep.pair_train_accuracy, 3)} / {_num(sep.pair_heldout_accuracy, 3)}"),
        ("α with the lowest conformity KL", f"{kl.best_alpha:g}"),
    ]
    if report.contrastive is not None:
        con = report.contrastive
        alphas = np.asarray(con.alphas, dtype=float)
        at_zero = np.flatnonzero(np.isclose(alphas, 0.0))
        if at_zero.size:
            cross.append(("pair accuracy at α = 0", _num(float(con.accuracy[at_zero[0]]), 3)))
        cross.append(("pairs correct / misclassified at α = 0",
                      f"{con.n_correct} / {con.n_misclassified}"))
    return [*per_modality, ("Across modalities", cross)]


def _check_embedding_matrix(value: Any, name: str, rows: int, dim: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape != (rows, dim) or arr.dtype.kind not in "fiu":
        raise InputError(name, value, f"expected the ({rows}, {dim}) matrix the report was "
                                      f"computed from")
    return arr


def write_geometry_report(report: GeometryReport, out_dir: str | os.PathLike[str], *,
                          images: np.ndarray | None = None, texts: np.ndarray | None = None,
                          info: Mapping[str, str] | None = None,
                          title: str = "CLIP embedding geometry") -> dict[str, Path]:
    """Write the geometry report into ``out_dir`` (created if needed).

    Files: ``geometry.json`` (``report.to_dict()`` plus ``info``), ``thin_shell.png``,
    ``spectrum.png``, ``separability.png``, ``conformity.png``, ``conformity_kl.png``,
    ``contrastive.png`` (only with pairs; a stale one from an earlier run is removed) and
    ``report.html`` with the key numbers and a short reading guide under every figure.

    Args:
        report: from :func:`vslerp.geometry.analyze`.
        out_dir: the report folder.
        images, texts: optionally the raw ``(N_I, D)`` / ``(N_T, D)`` embeddings the report was
            computed from; with them the separability figure shows the samples on the two most
            separating features (else the best feature's histograms).
        info: extra ``name -> value`` lines for the page header and the JSON (encoder, where
            the images and captions came from, ...).
        title: page title.

    Returns:
        ``{"html", "json", "thin_shell", "spectrum", "separability", "conformity",
        "conformity_kl"[, "contrastive"]}`` → path.
    """
    if not isinstance(report, GeometryReport):
        raise InputError("report", report, "expected a vslerp.geometry.GeometryReport")
    out = _check_out_dir(out_dir)
    if not isinstance(title, str):
        raise InputError("title", title, "expected a string")
    meta_info = dict(info or {})
    for key, value in meta_info.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InputError("info", info, "expected a mapping of strings to strings")
    images = _check_embedding_matrix(images, "images", report.n_images, report.dim)
    texts = _check_embedding_matrix(texts, "texts", report.n_texts, report.dim)

    figures: dict[str, _Figure] = {
        "thin_shell": _thin_shell_figure(report),
        "spectrum": _spectrum_figure(report),
        "separability": _separability_figure(report, images, texts),
        "conformity": _conformity_figure(report),
    }
    contrastive = _contrastive_figure(report)
    if contrastive is not None:
        figures["contrastive"] = contrastive
    figures["conformity_kl"] = _kl_figure(report)
    data = {"info": meta_info, **report.to_dict()}
    meta = [*meta_info.items(), ("images", str(report.n_images)),
            ("texts", str(report.n_texts)), ("dimension", str(report.dim))]
    html = _render("geometry.html.j2", title=title,
                   subtitle="The double-ellipsoid geometry of raw CLIP embeddings "
                            "(Levi & Gilboa, ICML 2025), measured on your data.",
                   meta=meta, numbers=_numbers(report),
                   sections=[(_HEADINGS[key], fig, _GUIDES[key]) for key, fig in figures.items()],
                   has_pairs=report.contrastive is not None)
    files: dict[str, tuple[str, Any]] = {
        "json": ("geometry.json", functools.partial(_write_json, data)),
        **{key: (fig.file, fig.png) for key, fig in figures.items()},
        "html": ("report.html", html),
    }
    return _write_files(out, files, remove=() if contrastive else ("contrastive.png",))

