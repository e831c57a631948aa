"""t × α vSLERP grids decoded from shared noise.

``render_grid(editor, a, b, t=[...], alpha=[...])``:

1. embeds the endpoints ``a`` and ``b`` — images (path, PIL image, uint8 array) through
   ``editor.embed_images``, prompts (``"prompt:a red fox"`` or :class:`Prompt`) through the
   backend's prior with the grid's seed;
2. computes every cell's embedding in one batched call,
   ``vSLERP(v_a, v_b, t_i, α_k; m) = SLERP(v_a − α_k·m, v_b − α_k·m, t_i) + α_k·m``, with ``m``
   the backend's image mean (or ``mean=``); α = 0 is plain SLERP, t = 0 / t = 1 give the
   endpoints exactly for every α;
3. decodes each *distinct* embedding once (cells are compared by their float32 bytes, so the
   whole t = 0 row and the whole t = 1 row cost one decode each), in batches of
   ``batch_size``, all from the same noise (see :mod:`vslerp.editors.base`): a cell looks the
   same whether it is rendered in a grid or alone, and the instance is kept across the grid;
4. scores each cell's estimated conformity against the same mean: ``cos(m, v)``
   (:func:`vslerp.conformity.estimated_conformity` with ``a = 1``, ``b = 0``; higher = more
   typical, lower = rarer, more detailed).

:class:`GridResult` holds the images ``[T][K]``, embeddings ``(T, K, D)``, conformity
``(T, K)`` and metadata; it draws a labelled contact sheet (t down, α across), GIFs along
either axis, and saves / loads a directory::

    out/manifest.json       model, revision, mean source, seed, steps, guidance, size, t, α,
                            cells [{t, alpha, row, col, file, conformity}], gifs, versions
    out/sheet.png           the contact sheet
    out/embeddings.npy      (T·K, D) float32, row i·K + k is cell (t_i, α_k)
    out/cells/t00_a00.png   one PNG per cell (row index, column index)
    out/gifs/t_sweep_a00.gif      t = t_0 … t_{T-1} at α_k, one per α
    out/gifs/alpha_sweep_t00.gif  α = α_0 … α_{K-1} at t_i, one per t

Every file is written atomically; ``cells/`` and ``gifs/`` are filled in fresh temporary folders
and swapped in whole, so saving again into the same directory leaves no cell the new manifest
does not list. The manifest is written last.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from vslerp import __version__
from vslerp.conformity import estimated_conformity
from vslerp.editors.base import (
    Editor,
    MeanSpec,
    ProgressFn,
    check_guidance,
    check_positive_int,
    check_seed,
    resolve_mean,
)
from vslerp.errors import InputError
from vslerp.fileio import (
    load_embeddings,
    save_embeddings,
    write_directory_atomic,
    write_json_atomic,
)
from vslerp.imaging import contact_sheet, image_digest, load_image, save_gif, save_image
from vslerp.interpolation import vslerp

__all__ = [
    "GRID_FORMAT",
    "GRID_FORMAT_VERSION",
    "PROMPT_PREFIX",
    "Endpoint",
    "GridResult",
    "Prompt",
    "interpolate",
    "parse_endpoint",
    "parse_values",
    "render_grid",
]

PROMPT_PREFIX = "prompt:"
GRID_FORMAT = "vslerp.grid"
GRID_FORMAT_VERSION = 1
_RANGE = re.compile(r"^\s*([^:]+):([^:]+):([^:]+)\s*$")
_MAX_VALUES = 1000
_CONFORMITY_NOTE = "estimated conformity cos(m, v) (a=1, b=0) against the grid's image mean"


@dataclass(frozen=True)
class Prompt:
    """A text endpoint, embedded by the backend's prior. ``str(Prompt("x"))`` is ``"prompt:x"``."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputError("prompt", self.text, "expected a non-empty string")

    def __str__(self) -> str:
        return f"{PROMPT_PREFIX}{self.text}"


Endpoint = Prompt | str | os.PathLike | Image.Image | np.ndarray
"""An endpoint: a :class:`Prompt`, a ``"prompt:..."`` string, an image path, a PIL image or a
uint8 ``(H, W, 3)`` array."""


def parse_endpoint(value: Any, name: str = "a") -> Prompt | Image.Image:
    """A :class:`Prompt` for prompts, else the loaded RGB image (errors name ``name`` and the
    path, e.g. for a missing or unreadable file)."""
    if isinstance(value, Prompt):
        return value
    if isinstance(value, str) and value.startswith(PROMPT_PREFIX):
        text = value[len(PROMPT_PREFIX):].strip()
        if not text:
            raise InputError(name, value, "empty prompt after 'prompt:'")
        return Prompt(text)
    if isinstance(value, (str, os.PathLike, Image.Image, np.ndarray)):
        return load_image(value, name=name)
    raise InputError(name, value, "expected an image path, a PIL image, a uint8 array, a "
                                  "'prompt:...' string or a Prompt")


def _describe_endpoint(raw: Any, parsed: Prompt | Image.Image) -> str:
    if isinstance(parsed, Prompt):
        return str(parsed)
    if isinstance(raw, (str, os.PathLike)):
        return str(raw)
    return f"image sha256:{image_digest(parsed)[:16]}"


def _embed_endpoints(editor: Editor, ends: list[Prompt | Image.Image],
                     seed: int) -> list[np.ndarray]:
    """``(D,)`` float32 embeddings of the endpoints: images in one ``embed_images`` call,
    prompts in one ``embed_prompts`` call."""
    out: list[np.ndarray | None] = [None] * len(ends)
    images = [(i, e) for i, e in enumerate(ends) if isinstance(e, Image.Image)]
    prompts = [(i, e) for i, e in enumerate(ends) if isinstance(e, Prompt)]
    if images:
        for (i, _), vec in zip(images, editor.embed_images([e for _, e in images]), strict=True):
            out[i] = vec
    if prompts:
        vecs = editor.embed_prompts([p.text for _, p in prompts], seed=seed)
        for (i, _), vec in zip(prompts, vecs, strict=True):
            out[i] = vec
    return [np.asarray(v, dtype=np.float32) for v in out if v is not None]


def _axis(name: str, value: Any) -> tuple[float, ...]:
    """``t`` / ``alpha`` as a non-empty tuple of finite floats (a number gives one value)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, (bool, np.bool_, str, bytes)) for v in items):
        raise InputError(name, value, "expected a number or a 1-D sequence of numbers")
    try:
        vals = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(name, value, f"expected a number or a 1-D sequence of numbers: "
                                      f"{err}") from err
    if vals.ndim > 1:
        raise InputError(name, value, "expected a number or a 1-D sequence of numbers")
    vals = vals.reshape(-1)
    if vals.size == 0:
        raise InputError(name, value, "is empty")
    if not np.isfinite(vals).all():
        raise InputError(name, value, "must be finite (no NaN/Inf)")
    return tuple(float(v) for v in vals)


def _versions() -> dict[str, str]:
    found = {"vslerp": __version__}
    for dist in ("torch", "diffusers", "transformers"):
        try:
            found[dist] = _metadata.version(dist)
        except _metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def _cell_file(i: int, k: int) -> str:
    return f"cells/t{i:02d}_a{k:02d}.png"


def _gif_files(n_t: int, n_k: int) -> list[dict[str, Any]]:
    """The GIFs a saved grid holds: a t sweep per α (when T > 1), an α sweep per t (K > 1)."""
    gifs: list[dict[str, Any]] = []
    if n_t > 1:
        gifs += [{"axis": "t", "index": k, "file": f"gifs/t_sweep_a{k:02d}.gif"}
                 for k in range(n_k)]
    if n_k > 1:
        gifs += [{"axis": "alpha", "index": i, "file": f"gifs/alpha_sweep_t{i:02d}.gif"}
                 for i in range(n_t)]
    return gifs


@dataclass
class GridResult:
    """A rendered t × α grid.

    Attributes:
        images: ``images[i][k]`` is the RGB image of cell ``(t[i], alpha[k])``.
        embeddings: ``(T, K, D)`` float32, the image embedding each cell was decoded from.
        conformity: ``(T, K)`` float64 estimated conformity ``cos(m, v)`` of each cell's
            embedding against the grid's image mean ``m``.
        t, alpha: the grid's axes.
        metadata: ``model``, ``revision``, ``mean_source``, ``seed``, ``steps``, ``guidance``,
            ``height``, ``width``, ``a``, ``b`` (endpoint descriptions), ``unique_cells``
            (decodes actually run) and ``versions`` (vslerp, torch, diffusers, transformers).
    """

    images: list[list[Image.Image]]
    embeddings: np.ndarray
    conformity: np.ndarray
    t: tuple[float, ...]
    alpha: tuple[float, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, K)``."""
        return len(self.t), len(self.alpha)

    def sheet(self, *, title: str | None = None,
              cell_size: int | tuple[int, int] | None = None) -> Image.Image:
        """A labelled contact sheet: t down the rows, α across the columns."""
        return contact_sheet(self.images, row_labels=list(self.t), col_labels=list(self.alpha),
                             row_title="t", col_title="α", title=title, cell_size=cell_size)

    def frames(self, axis: Literal["t", "alpha"] = "t", index: int = 0) -> list[Image.Image]:
        """The images along one axis: ``axis="t"`` sweeps t at ``alpha[index]``,
        ``axis="alpha"`` sweeps α at ``t[index]``."""
        n_t, n_k = self.shape
        if axis not in ("t", "alpha"):
            raise InputError("axis", axis, "expected 't' or 'alpha'")
        limit = n_k if axis == "t" else n_t
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < limit:
            raise InputError("index", index, f"expected an int in [0, {limit})")
        if axis == "t":
            return [self.images[i][index] for i in range(n_t)]
        return list(self.images[index])

    def gif(self, path: str | os.PathLike[str], *, axis: Literal["t", "alpha"] = "t",
            index: int = 0, duration_ms: int = 300, boomerang: bool = True) -> Path:
        """Write the :meth:`frames` along ``axis`` as an animation (``.gif``, ``.png`` or
        ``.webp``), atomically; played forwards then backwards by default. Returns the path."""
        return save_gif(self.frames(axis, index), path, duration_ms=duration_ms,
                        boomerang=boomerang)

    def manifest(self) -> dict[str, Any]:
        """The ``manifest.json`` content (see the module docstring)."""
        n_t, n_k = self.shape
        cells = [{"t": self.t[i], "alpha": self.alpha[k], "row": i, "col": k,
                  "file": _cell_file(i, k), "conformity": float(self.conformity[i, k])}
                 for i in range(n_t) for k in range(n_k)]
        gifs = [dict(g, **({"alpha": self.alpha[g["index"]]} if g["axis"] == "t"
                           else {"t": self.t[g["index"]]})) for g in _gif_files(n_t, n_k)]
        meta = dict(self.metadata)
        return {
            "format": GRID_FORMAT,
            "format_version": GRID_FORMAT_VERSION,
            **{key: meta.pop(key, None) for key in (
                "model", "revision", "mean_source", "seed", "steps", "guidance", "height",
                "width")},
            "t": list(self.t),
            "alpha": list(self.alpha),
            "conformity_estimator": _CONFORMITY_NOTE,
            "sheet": "sheet.png",
            "embeddings": "embeddings.npy",
            "cells": cells,
            "gifs": gifs,
            **meta,
        }

    def save(self, directory: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Write the grid into ``directory`` (created if needed; see the module docstring for
        the layout) and return the manifest's path. Safe to repeat into the same directory."""
        if not isinstance(directory, (str, os.PathLike)) or not str(directory):
            raise InputError("directory", directory, "expected a directory path")
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise InputError("directory", str(root), "exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        n_t, n_k = self.shape
        manifest = self.manifest()

        def write_cells(tmp: Path) -> None:
            for i in range(n_t):
                for k in range(n_k):
                    save_image(self.images[i][k], tmp / Path(_cell_file(i, k)).name)

        def write_gifs(tmp: Path) -> None:
            for g in _gif_files(n_t, n_k):
                self.gif(tmp / Path(g["file"]).name, axis=g["axis"], index=g["index"])

        write_directory_atomic(root / "cells", write_cells)
        write_directory_atomic(root / "gifs", write_gifs)
        save_image(self.sheet(title=title), root / "sheet.png")
        save_embeddings(root / "embeddings.npy", self.embeddings.reshape(n_t * n_k, -1))
        return write_json_atomic(root / "manifest.json", manifest)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> GridResult:
        """Read a grid written by :meth:`save` (manifest, cell images, embeddings)."""
        root = Path(directory)
        path = root / "manifest.json"
        if not path.is_file():
            raise InputError("directory", str(root), "holds no manifest.json")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError("directory", str(root), f"unreadable manifest.json: {err}") from err
        if not isinstance(manifest, dict) or manifest.get("format") != GRID_FORMAT:
            raise InputError("directory", str(root), "manifest.json is not a vslerp grid")
        if manifest.get("format_version") != GRID_FORMAT_VERSION:
            raise InputError("directory", str(root), f"grid format version "
                                                     f"{manifest.get('format_version')!r}; this "
                                                     f"vslerp reads {GRID_FORMAT_VERSION}")
        t, alpha = tuple(manifest["t"]), tuple(manifest["alpha"])
        n_t, n_k = len(t), len(alpha)
        images: list[list[Image.Image | None]] = [[None] * n_k for _ in range(n_t)]
        conformity = np.full((n_t, n_k), np.nan)
        for cell in manifest["cells"]:
            i, k = int(cell["row"]), int(cell["col"])
            images[i][k] = load_image(root / cell["file"], name="cell")
            conformity[i, k] = float(cell["conformity"])
        if any(img is None for row in images for img in row):
            raise InputError("directory", str(root), "manifest.json does not list every cell")
        flat = load_embeddings(root / manifest["embeddings"])
        if flat.shape[0] != n_t * n_k:
            raise InputError("directory", str(root), f"embeddings hold {flat.shape[0]} rows "
                                                     f"for {n_t * n_k} cells")
        skip = {"format", "format_version", "t", "alpha", "cells", "gifs", "sheet",
                "embeddings", "conformity_estimator"}
        meta = {key: value for key, value in manifest.items() if key not in skip}
        return cls(images=images,  # type: ignore[arg-type]
                   embeddings=flat.reshape(n_t, n_k, -1).astype(np.float32),
                   conformity=conformity, t=t, alpha=alpha, metadata=meta)


def render_grid(
    editor: Editor,
    a: Endpoint,
    b: Endpoint,
    *,
    t: float | Sequence[float],
    alpha: float | Sequence[float],
    seed: int = 0,
    steps: int = 25,
    guidance: float = 4.0,
    batch_size: int = 4,
    height: int | None = None,
    width: int | None = None,
    mean: MeanSpec = None,
    progress: ProgressFn | None = None,
) -> GridResult:
    """Render the t × α vSLERP grid between ``a`` and ``b`` (see the module docstring).

    Args:
        editor: a loaded backend (:func:`vslerp.editors.load_editor`).
        a, b: endpoints: image paths / PIL images / uint8 arrays, or prompts
            (``"prompt:..."`` or :class:`Prompt`, embedded by the prior with ``seed``).
        t: interpolation positions (0 = ``a``, 1 = ``b``; outside [0, 1] extrapolates), a number
            or a 1-D sequence of ``T`` numbers.
        alpha: shifts of the interpolation centre along the image mean (0 = SLERP), a number or
            ``K`` numbers.
        seed: noise seed shared by every cell (and the prompt prior's seed).
        steps, guidance, height, width: decoding settings (see ``Editor.decode``).
        batch_size: cells per decoder call; does not change the images.
        mean: the image mean ``m`` (``None``: ``editor.image_mean()``; else a ``ModalityMean``,
            a ``.safetensors`` mean file, a folder of images or a ``(D,)`` array).
        progress: ``progress(done, total)`` over the distinct cells decoded.

    Returns:
        A :class:`GridResult` with ``T × K`` images.
    """
    t_vals = _axis("t", t)
    alpha_vals = _axis("alpha", alpha)
    seed = check_seed(seed)
    steps = check_positive_int(steps, "steps")
    guidance = check_guidance(guidance)
    batch_size = check_positive_int(batch_size, "batch_size")
    size = editor.output_size(height, width)
    ends = [parse_endpoint(a, "a"), parse_endpoint(b, "b")]
    m = resolve_mean(mean, editor)
    v0, v1 = _embed_endpoints(editor, ends, seed)
    cells = vslerp(v0, v1, list(t_vals), alpha=list(alpha_vals), mean=m.mean)  # (T, K, D)
    n_t, n_k, dim = cells.shape
    flat = np.ascontiguousarray(cells.reshape(n_t * n_k, dim), dtype=np.float32)
    unique: dict[bytes, int] = {}
    which = [unique.setdefault(row.tobytes(), len(unique)) for row in flat]
    first = {slot: idx for idx, slot in reversed(list(enumerate(which)))}
    decoded = editor.decode(flat[[first[s] for s in range(len(unique))]], seed=seed, steps=steps,
                            guidance=guidance, height=size[0], width=size[1],
                            batch_size=batch_size, progress=progress)
    images = [[decoded[which[i * n_k + k]] for k in range(n_k)] for i in range(n_t)]
    conformity = estimated_conformity(flat, m, 1.0, 0.0).reshape(n_t, n_k)
    metadata = {
        "model": editor.id, "revision": editor.revision,
        "mean_source": m.source or editor.mean_source, "seed": seed, "steps": steps,
        "guidance": guidance, "height": size[0], "width": size[1],
        "a": _describe_endpoint(a, ends[0]), "b": _describe_endpoint(b, ends[1]),
        "unique_cells": len(unique), "versions": _versions(),
    }
    return GridResult(images=images, embeddings=flat.reshape(n_t, n_k, dim),  # type: ignore[arg-type]
                      conformity=conformity, t=t_vals, alpha=alpha_vals, metadata=metadata)


def interpolate(
    editor: Editor,
    a: Endpoint,
    b: Endpoint,
    *,
    t: float = 0.5,
    alpha: float = 0.0,
    seed: int = 0,
    steps: int = 25,
    guidance: float = 4.0,
    height: int | None = None,
    width: int | None = None,
    mean: MeanSpec = None,
) -> Image.Image:
    """One cell of :func:`render_grid` (the same code path): the image decoded from
    ``vSLERP(v_a, v_b, t, α)``."""
    for name, value in (("t", t), ("alpha", alpha)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)) \
                or not math.isfinite(float(value)):
            raise InputError(name, value, "expected a finite number")
    grid = render_grid(editor, a, b, t=[float(t)], alpha=[float(alpha)], seed=seed, steps=steps,
                       guidance=guidance, batch_size=1, height=height, width=width, mean=mean)
    return grid.images[0][0]


def parse_values(option: str, text: str) -> list[float]:
    """Parse ``start:stop:num`` (``num`` evenly spaced values, both ends included), a comma
    list ``a,b,c`` or a single number; errors name ``option``."""
    usage = "expected start:stop:num (e.g. 0:1:5), a comma list (0,0.5,1) or a number"
    if not isinstance(text, str) or not text.strip():
        raise InputError(option, text, usage)
    match = _RANGE.match(text)
    try:
        if match:
            start, stop = float(match.group(1)), float(match.group(2))
            num_text = match.group(3).strip()
            if not re.fullmatch(r"\d+", num_text) or not 1 <= int(num_text) <= _MAX_VALUES:
                raise InputError(option, text, f"num (after the second ':') must be an integer "
                                                f"in [1, {_MAX_VALUES}]")
            values = np.linspace(start, stop, int(num_text)).tolist()
        else:
            values = [float(part) for part in text.split(",")]
    except ValueError as err:
        raise InputError(option, text, f"{usage} ({err})") from err
    if not all(np.isfinite(values)):
        raise InputError(option, text, "values must be finite")
    return [float(v) for v in values]
