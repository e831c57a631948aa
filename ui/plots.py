"""Figures the web UI draws (matplotlib's object-oriented API on the Agg canvas, no pyplot
state, so requests on different threads never share a figure)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

__all__ = ["conformity_histogram"]

_SET_COLOR = "#0072B2"
_REFERENCE_COLOR = "#1F2328"


def conformity_histogram(values: np.ndarray, *, label: str,
                         reference: np.ndarray | None = None,
                         reference_label: str = "reference") -> Image.Image:
    """Histogram (density) of conformity ``values``, over the ``reference`` distribution's
    outline when one is given, as an RGB image."""
    values = np.asarray(values, dtype=np.float64)
    pooled = values if reference is None else np.concatenate([values, reference])
    n_bins = int(np.clip(np.sqrt(pooled.size) * 2, 5, 40))
    edges = np.histogram_bin_edges(pooled, bins=n_bins)
    fig = Figure(figsize=(6.4, 3.0), dpi=110)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if reference is not None:
        ax.hist(reference, bins=edges, density=True, histtype="step", linewidth=2,
                color=_REFERENCE_COLOR, label=f"{reference_label} (n = {reference.size})")
    ax.hist(values, bins=edges, density=True, alpha=0.65, color=_SET_COLOR,
            label=f"{label} (n = {values.size})")
    ax.set_xlabel("conformity  C(v) = mean cos(v, v_k)")
    ax.set_ylabel("density")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
