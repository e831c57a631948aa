"""What the web UI's controls do: one method per event, each a thin chain over the vslerp API.

Every method takes and returns plain Python values (paths, strings, numbers, PIL images), so it
can be called without a browser; :mod:`ui.app` wires them to components. Errors meant for the
user (:class:`vslerp.errors.VslerpError`, including bad uploads, which name the file) become a
:class:`gradio.Error` shown in the page; nothing else is caught, and Gradio keeps the app up.

Model work runs under :attr:`ui.models.ModelRegistry.lock` (besides the app's one-slot queue for
model events): the diffusers pipelines' schedulers and the editors' caches are shared mutable
state. Each decode draws its noise from fresh ``torch.Generator`` objects seeded with the
request's seed (:meth:`vslerp.editors.base.BaseEditor.decode`), so requests do not influence
each other.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import gradio as gr
import numpy as np
from PIL import Image

from ui.models import ModelRegistry, ResultCache, backend_label, encoder_label
from ui.outputs import OutputFolder, zip_folder
from ui.plots import conformity_histogram
from ui.uploads import (
    MAX_SET_IMAGES,
    StagedSet,
    UploadError,
    load_upload_image,
    stage_captions,
    stage_files,
    upload_name,
)
from vslerp.conformity import ConformityMeter, estimated_conformity, score_embeddings
from vslerp.editors import Editor
from vslerp.encoders import Encoder
from vslerp.errors import InputError, VslerpError
from vslerp.grid import Prompt, parse_values, render_grid
from vslerp.imaging import DEFAULT_MAX_PIXELS, load_image, thumbnail
from vslerp.interpolation import angle, vslerp
from vslerp.jobs import EmbeddedSource, embed_source
from vslerp.means import ModalityMean
from vslerp.ranking import PRIMARY_DISTANCE, rank_sources
from vslerp.report import write_ranking_report
from vslerp.sources import open_source
from vslerp.tabular import write_csv_atomic

__all__ = [
    "ENDPOINT_KINDS",
    "MAX_GRID_CELLS",
    "PROGRESS",
    "SCORE_KINDS",
    "Actions",
    "user_errors",
]

PROGRESS = gr.Progress(track_tqdm=True)
"""The progress tracker every long action takes (tqdm bars inside show up in the page)."""

ENDPOINT_KINDS = ("Image", "Prompt")
SCORE_KINDS = ("Images", "Captions")
#: Most cells a grid may have in the UI.
MAX_GRID_CELLS = 100
#: Longest side of endpoint previews and conformity thumbnails.
PREVIEW_SIDE = 512
THUMB_SIDE = 160
#: Most / least conforming examples shown.
EXTREMES = 4
#: Longest source name in the Rank tab.
MAX_NAME = 60

_NOUNS = {"image": "images", "text": "captions"}

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn user-facing errors raised by ``fn`` into :class:`gradio.Error` (shown in the
    page). The signature is kept, so Gradio still sees the ``progress`` argument."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (VslerpError, FileNotFoundError) as err:
            raise gr.Error(str(err), print_exception=False) from err
        except MemoryError as err:
            raise gr.Error("Out of memory: try fewer cells, a smaller batch or fewer "
                           "files.", print_exception=False) from err
        except RuntimeError as err:
            if "out of memory" in str(err).lower():  # torch.cuda.OutOfMemoryError
                raise gr.Error("Out of GPU memory: try fewer cells or a smaller batch size.",
                               print_exception=False) from err
            raise

    return wrapper  # type: ignore[return-value]


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|<>~])")


def md(text: str) -> str:
    """``text`` safe inside Markdown (special characters escaped, one line)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(float(value)):
        raise InputError(name, value, "expected a finite number")
    return float(value)


def _whole(value: Any, name: str) -> int:
    number = _number(value, name)
    if not number.is_integer():
        raise InputError(name, value, "expected a whole number")
    return int(number)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _say(progress: Any) -> Callable[[str], object]:
    return lambda message: progress(0.0, desc=message)


class Actions:
    """The UI's event handlers.

    Args:
        models: loads and caches editors and encoders.
        outputs: the app's output folder (run folders for grids, reports, staged uploads).
        results: recent decoded images (default: a :class:`~ui.models.ResultCache` of 64).
        max_pixels: uploads with more pixels are refused (checked from the header).
        max_grid_cells: most cells a grid may have.
        max_set_images: most images one uploaded set may hold.
    """

    def __init__(self, models: ModelRegistry, outputs: OutputFolder, *,
                 results: ResultCache | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_grid_cells: int = MAX_GRID_CELLS,
                 max_set_images: int = MAX_SET_IMAGES) -> None:
        self.models = models
        self.outputs = outputs
        self.results = results if results is not None else ResultCache()
        self.max_pixels = max_pixels
        self.max_grid_cells = max_grid_cells
        self.max_set_images = max_set_images

    # ------------------------------------------------------------------------ endpoints

    @user_errors
    def preview(self, path: str | None, what: str) -> tuple[Image.Image | None, ...]:
        """Load an uploaded endpoint image safely; its preview twice (the Interpolate tab
        and the Grid tab's copy). ``None`` when the upload was cleared."""
        if not path:
            return None, None
        image = thumbnail(load_upload_image(path, what=what, max_pixels=self.max_pixels),
                          PREVIEW_SIDE)
        return image, image

    @staticmethod
    def describe_endpoints(a_kind: str, a_file: str | None, a_prompt: str | None,
                           b_kind: str, b_file: str | None, b_prompt: str | None) -> str:
        """One Markdown line naming the two endpoints (for the Grid tab)."""
        def one(label: str, kind: str, path: str | None, prompt: str | None) -> str:
            if kind == "Prompt":
                text = (prompt or "").strip()
                return f"**{label}**: prompt “{md(text)}”" if text else \
                    f"**{label}**: *no prompt yet*"
            return f"**{label}**: image {md(upload_name(path))}" if path else \
                f"**{label}**: *no image yet*"

        return (one("A", a_kind, a_file, a_prompt) + " · " + one("B", b_kind, b_file, b_prompt)
                + " (set them in the Interpolate tab)")

    def _endpoint(self, kind: str, path: str | None, prompt: str | None,
                  label: str) -> Image.Image | Prompt:
        if kind not in ENDPOINT_KINDS:
            raise InputError(f"{label} kind", kind, f"expected one of {', '.join(ENDPOINT_KINDS)}")
        if kind == "Prompt":
            if not isinstance(prompt, str) or not prompt.strip():
                raise UploadError(f"Endpoint {label}: type a prompt (or switch {label} to "
                                  f"Image)")
            return Prompt(prompt.strip())
        if not path:
            raise UploadError(f"Endpoint {label}: upload an image (or switch {label} to Prompt)")
        return load_upload_image(path, what=f"Image {label}", max_pixels=self.max_pixels)

    @staticmethod
    def _embed(editor: Editor, endpoint: Image.Image | Prompt, seed: int) -> np.ndarray:
        """``(D,)`` float32: through the editor's caches, so an endpoint seen before is not
        encoded again."""
        if isinstance(endpoint, Prompt):
            return editor.embed_prompts([endpoint.text], seed=seed)[0]
        return editor.embed_images([endpoint])[0]

    # ------------------------------------------------------------------------ interpolate

    @user_errors
    def interpolate(self, backend: str, a_kind: str, a_file: str | None, a_prompt: str | None,
                    b_kind: str, b_file: str | None, b_prompt: str | None, t: float,
                    alpha: float, seed: float, steps: float, guidance: float,
                    progress: Any = PROGRESS) -> tuple[Image.Image, str, str]:
        """Decode ``vSLERP(A, B, t, α)``. Returns the image, the geometry (Markdown) and a
        status line. Repeated calls re-use the editor's embedding cache (endpoints are never
        encoded twice) and the result cache (a (t, α) seen before is not decoded again)."""
        t, alpha = _number(t, "t"), _number(alpha, "α")
        seed, steps, guidance = _whole(seed, "seed"), _whole(steps, "steps"), \
            _number(guidance, "guidance")
        ends = (self._endpoint(a_kind, a_file, a_prompt, "A"),
                self._endpoint(b_kind, b_file, b_prompt, "B"))
        editor = self.models.editor(backend, _say(progress))
        with self.models.lock:
            progress(0.05, desc="Embedding A and B")
            v_a, v_b = (self._embed(editor, end, seed) for end in ends)
            mean = editor.image_mean()
            cell = vslerp(v_a, v_b, t, alpha=alpha, mean=mean)
            key = (editor.id, cell.tobytes(), seed, steps, guidance)
            image = self.results.get(key)
            if image is None:
                progress(0.1, desc=f"Decoding t = {t:g}, α = {alpha:g}")
                start = time.perf_counter()
                image = editor.decode(cell, seed=seed, steps=steps, guidance=guidance)[0]
                self.results.put(key, image)
                status = f"Decoded in {time.perf_counter() - start:.2f} s"
            else:
                status = "Shown from the cache of recent results (decoded before)"
            geometry = self._geometry(v_a, v_b, cell, mean, alpha)
        status += (f" · {backend_label(editor.id)} · t = {t:g}, α = {alpha:g}, seed {seed}, "
                   f"{steps} steps, guidance {guidance:g}")
        return image, geometry, status

    @user_errors
    def scrub(self, live: bool, backend: str, a_kind: str, a_file: str | None,
              a_prompt: str | None, b_kind: str, b_file: str | None, b_prompt: str | None,
              t: float, alpha: float, seed: float, steps: float, guidance: float,
              progress: Any = PROGRESS) -> tuple[Any, Any, Any]:
        """:meth:`interpolate` for slider moves, once a first image was generated (``live``);
        before that, moving a slider changes nothing (and loads no model)."""
        if not live:
            return gr.skip(), gr.skip(), gr.skip()
        return self.interpolate(backend, a_kind, a_file, a_prompt, b_kind, b_file, b_prompt, t,
                                alpha, seed, steps, guidance, progress=progress)

    @staticmethod
    def _geometry(v_a: np.ndarray, v_b: np.ndarray, cell: np.ndarray, mean: ModalityMean,
                  alpha: float) -> str:
        """What the geometry says about A, B and the result (Markdown)."""
        omega = float(angle(v_a, v_b))
        omega_alpha = float(angle(v_a, v_b, alpha=alpha, mean=mean))
        conf = estimated_conformity(np.stack([v_a, v_b, cell]), mean)
        lines = [
            "| | A | B | result |",
            "|:--|--:|--:|--:|",
            f"| conformity cos(m, v) | {conf[0]:.4f} | {conf[1]:.4f} | "
            f"{conf[2]:.4f} |",
            "",
            f"**cos(A, B)** = {math.cos(omega):.4f} · **angle** = {math.degrees(omega):.2f}° "
            f"around the origin (plain SLERP, α = 0)",
            "",
            f"**angle around α·m** = {math.degrees(omega_alpha):.2f}° at α = {alpha:g} "
            f"(the arc vSLERP follows)",
            "",
            f"Higher conformity = more typical content, lower = rarer, more detailed. "
            f"m: {md(mean.source or 'image mean')} (D = {mean.dim}, ‖m‖ = {mean.norm:.3f}).",
        ]
        return "\n".join(lines)

    # ------------------------------------------------------------------------ grid

    @user_errors
    def grid(self, backend: str, a_kind: str, a_file: str | None, a_prompt: str | None,
             b_kind: str, b_file: str | None, b_prompt: str | None, t_values: str,
             alpha_values: str, seed: float, steps: float, guidance: float, batch_size: float,
             progress: Any = PROGRESS) -> tuple[Any, str, str | None, str | None, str, str]:
        """Render a t × α grid (:func:`vslerp.grid.render_grid`), save it
        (:meth:`~vslerp.grid.GridResult.save`) into a new run folder and zip it. Returns the
        gallery (cells labelled with their t and α), the contact sheet, a GIF along t (at the
        α closest to 0), a GIF along α (at the t closest to 0.5), the zip and a summary."""
        t_vals = parse_values("t values", t_values)
        alphas = parse_values("α values", alpha_values)
        cells = len(t_vals) * len(alphas)
        if cells > self.max_grid_cells:
            raise InputError("t × α", f"{len(t_vals)} × {len(alphas)}",
                             f"{cells} cells; at most {self.max_grid_cells} here (use the "
                             f"command line, vslerp grid, for bigger grids)")
        seed, steps = _whole(seed, "seed"), _whole(steps, "steps")
        guidance, batch = _number(guidance, "guidance"), _whole(batch_size, "batch size")
        ends = (self._endpoint(a_kind, a_file, a_prompt, "A"),
                self._endpoint(b_kind, b_file, b_prompt, "B"))
        editor = self.models.editor(backend, _say(progress))

        def report(done: int, total: int) -> None:
            progress((done, total), desc="Decoding cells", unit="cells")

        with self.models.lock:
            progress(0.0, desc="Embedding A and B")
            result = render_grid(editor, ends[0], ends[1], t=t_vals, alpha=alphas, seed=seed,
                                 steps=steps, guidance=guidance, batch_size=batch,
                                 progress=report)
        run = self.outputs.new_run("grid")
        folder = run / "grid"
        manifest = result.manifest()
        result.save(folder, title=f"vSLERP grid · {backend_label(editor.id)} · seed {seed}")
        archive = zip_folder(folder, run / "vslerp-grid.zip")
        n_t, n_k = result.shape
        k0 = int(np.argmin(np.abs(np.asarray(result.alpha))))
        i0 = int(np.argmin(np.abs(np.asarray(result.t) - 0.5)))
        gifs = {(g["axis"], g["index"]): str(folder / g["file"]) for g in manifest["gifs"]}
        gallery = [(result.images[i][k], f"t = {tv:g} · α = {av:g}")
                   for i, tv in enumerate(result.t) for k, av in enumerate(result.alpha)]
        summary = (f"{n_t} × {n_k} cells (t down, α across), {manifest['unique_cells']} "
                   f"distinct decodes (the t = 0 and t = 1 rows are A and B for every α) · "
                   f"{backend_label(editor.id)} · seed {seed}, {steps} steps, guidance "
                   f"{guidance:g} · the zip holds every cell, the sheet, the GIFs, the "
                   f"embeddings and manifest.json")
        return (gr.Gallery(value=gallery, columns=min(n_k, 8)), str(folder / "sheet.png"),
                gifs.get(("t", k0)), gifs.get(("alpha", i0)), str(archive), summary)

    # ------------------------------------------------------------------------ conformity

    def _embed_set(self, staged: StagedSet, encoder: Encoder, name: str,
                   what: str) -> EmbeddedSource:
        """Embed a staged set (:func:`vslerp.sources.open_source` →
        :func:`vslerp.jobs.embed_source`); labels become the names the user gave the files.

        Raises:
            UploadError: items that could not be embedded, named.
        """
        source = open_source(staged.path, name=name, modality=staged.modality)
        embedded = embed_source(source, encoder, work_dir=None, progress=True)
        if staged.modality == "image":
            embedded = dataclasses.replace(
                embedded, labels=[staged.labels.get(i, i) for i in embedded.ids])
        if embedded.failed:
            named = [f"'{staged.labels.get(i, i)}' ({reason})" for i, reason in embedded.failed]
            more = f" and {len(named) - 5} more" if len(named) > 5 else ""
            raise UploadError(f"{what}: {len(named)} of {len(source)} item(s) could not be "
                              f"read: {'; '.join(named[:5])}{more}")
        return embedded

    def _stage(self, kind: str, files: Sequence[str] | None, captions: str | None, folder: Any,
               what: str) -> StagedSet:
        if kind not in SCORE_KINDS:
            raise InputError("what to score", kind, f"expected one of {', '.join(SCORE_KINDS)}")
        if kind == "Captions":
            return stage_captions(captions, folder, what=what)
        return stage_files(files, folder, what=what, max_images=self.max_set_images)

    @user_errors
    def conformity(self, encoder_spec: str, kind: str, files: Sequence[str] | None,
                   captions: str | None, reference_files: Sequence[str] | None,
                   reference_captions: str | None, progress: Any = PROGRESS
                   ) -> tuple[list[list[Any]], Image.Image, Any, Any, Any, str, str]:
        """Score uploaded images (or captions) for conformity.

        *conformity* is exact: the mean cosine similarity of an item to every other uploaded
        item, or, when a reference set is given, to every item of the reference set.
        *estimated* is the paper's estimator ``a·cos(m, v) + b``, with ``m`` the raw mean of
        the same set and ``a, b`` fitted by least squares on these items
        (:func:`vslerp.conformity.score_embeddings`).

        Returns the table (rank, item, conformity, estimated; most conforming first), the
        histogram, the most / least conforming thumbnails (images) or a Markdown list
        (captions), the CSV of every score and a summary.
        """
        run = self.outputs.new_run("conformity")
        staged = self._stage(kind, files, captions, run / "set", "Items to score")
        has_reference = bool(reference_files) if kind == "Images" else \
            bool(reference_captions and reference_captions.strip())
        ref_staged = self._stage(kind, reference_files, reference_captions, run / "reference",
                                 "Reference set") if has_reference else None
        if ref_staged is not None and ref_staged.modality != staged.modality:
            raise UploadError(f"Reference set: holds {_NOUNS[ref_staged.modality]} but the "
                              f"items to score are {_NOUNS[staged.modality]}")
        if ref_staged is None and staged.count < 2:
            raise UploadError("Items to score: conformity within a set needs at least 2 items "
                              "(or add a reference set)")
        if ref_staged is not None and ref_staged.count < 2:
            raise UploadError("Reference set: needs at least 2 items")
        encoder = self.models.encoder(encoder_spec, _say(progress))
        with self.models.lock:
            progress(0.0, desc="Embedding the items")
            items = self._embed_set(staged, encoder, "uploaded items", "Items to score")
            ref = None if ref_staged is None else self._embed_set(
                ref_staged, encoder, "reference set", "Reference set")
        reference: ModalityMean | None = None
        ref_values = None
        if ref is not None:
            meter = ConformityMeter(encoder=encoder.id, modality=ref.modality,  # type: ignore[arg-type]
                                    source="uploaded reference set")
            meter.update(ref.embeddings)
            reference = meter.compute().reference
            ref_values = meter.scores(ref.embeddings)
        scores = score_embeddings(items.embeddings, ids=items.ids, items=items.labels,
                                  reference=reference, name="uploaded items")
        order = np.argsort(-scores.conformity, kind="stable")
        table = [[rank + 1, items.labels[j], round(float(scores.conformity[j]), 6),
                  None if not math.isfinite(float(scores.estimated[j]))
                  else round(float(scores.estimated[j]), 6)]
                 for rank, j in enumerate(order)]
        histogram = conformity_histogram(
            scores.conformity, label="uploaded items" if ref is None else "uploaded items "
            "(vs. the reference)", reference=ref_values,
            reference_label="reference set (within itself)")
        csv_path = write_csv_atomic(run / "conformity.csv", scores.header(), scores.rows())
        k = max(1, min(EXTREMES, len(order) // 2))
        most, least = order[:k], order[::-1][:k]
        if staged.modality == "image":
            def gallery(rows: np.ndarray) -> list[tuple[Image.Image, str]]:
                paths = items.paths or []
                return [(thumbnail(load_image(paths[j]), THUMB_SIDE),
                         f"{scores.conformity[j]:.4f} · {items.labels[j]}") for j in rows]

            most_out: Any = gr.Gallery(value=gallery(most), visible=True)
            least_out: Any = gr.Gallery(value=gallery(least), visible=True)
            text_out: Any = gr.Markdown(value="", visible=False)
        else:
            def listing(title: str, rows: np.ndarray) -> str:
                return f"**{title}**\n\n" + "\n".join(
                    f"1. {scores.conformity[j]:.4f} · {md(items.labels[j])}" for j in rows)

            most_out = gr.Gallery(value=None, visible=False)
            least_out = gr.Gallery(value=None, visible=False)
            text_out = gr.Markdown(value=listing("Most conforming (typical)", most) + "\n\n"
                                   + listing("Least conforming (rare, detailed)", least),
                                   visible=True)
        fit = scores.fit
        against = ("every other uploaded item" if ref is None else
                   f"the {ref_staged.count if ref_staged else 0} items of the reference set")
        notes = staged.notes + (ref_staged.notes if ref_staged else [])
        summary = "\n".join([
            f"**{scores.n} {_NOUNS[staged.modality]}** scored with "
            f"{md(encoder_label(encoder.id))}. "
            f"**conformity** = mean cosine similarity to {against} (exact); mean "
            f"{scores.conformity.mean():.4f}, min {scores.conformity.min():.4f}, max "
            f"{scores.conformity.max():.4f}.",
            "",
            "**estimated** = a·cos(m, v) + b, the paper's estimator: m is the raw mean of "
            + ("the uploaded items" if ref is None else "the reference set")
            + (f", a = {fit.a:.3f}, b = {fit.b:.3f} fitted here (Pearson "
               f"{_fmt(fit.pearson)})." if fit is not None else
               "; no fit is possible here (every cos(m, v) is the same)."),
            *([""] + [f"Note: {md(n)}" for n in notes] if notes else []),
        ])
        return table, histogram, most_out, least_out, text_out, str(csv_path), summary

    # ------------------------------------------------------------------------ rank

    @user_errors
    def rank(self, encoder_spec: str, reference_name: str, reference_files: Sequence[str] | None,
             name_1: str, files_1: Sequence[str] | None, name_2: str,
             files_2: Sequence[str] | None, name_3: str, files_3: Sequence[str] | None,
             name_4: str, files_4: Sequence[str] | None, progress: Any = PROGRESS
             ) -> tuple[list[list[Any]], str, str, list[str], str]:
        """Rank up to four uploaded sets against a reference set
        (:func:`vslerp.ranking.rank_sources`) and write the report
        (:func:`vslerp.report.write_ranking_report`) into a new run folder. Returns the
        ranking table, the histogram, the report page (in a sandboxed frame), the report's
        files and a summary."""
        slots = [("reference", reference_name, reference_files)] + [
            (f"source {i}", name, files) for i, name, files in
            ((1, name_1, files_1), (2, name_2, files_2), (3, name_3, files_3),
             (4, name_4, files_4))]
        if not reference_files:
            raise UploadError("Reference set: upload the real images or human captions to "
                              "compare against")
        sets: list[tuple[str, Sequence[str]]] = []
        for default, name, files in slots:
            if not files:
                continue
            label = (name or "").strip() or default
            if len(label) > MAX_NAME:
                raise InputError(f"name of {default}", label, f"longer than {MAX_NAME} "
                                                              f"characters")
            if any(label == seen for seen, _ in sets):
                raise InputError(f"name of {default}", label, "used twice; give every set "
                                                              "its own name")
            sets.append((label, files))
        if len(sets) < 2:
            raise UploadError("Sources: upload at least one set to rank (generator outputs, "
                              "captioner outputs)")
        run = self.outputs.new_run("rank")
        staged = [stage_files(files, run / f"set-{i}", what=f"Set '{label}'",
                              max_images=self.max_set_images)
                  for i, (label, files) in enumerate(sets)]
        encoder = self.models.encoder(encoder_spec, _say(progress))
        with self.models.lock:
            progress(0.0, desc="Embedding the sets")
            embedded = [self._embed_set(s, encoder, label, f"Set '{label}'")
                        for s, (label, _) in zip(staged, sets, strict=True)]
        progress(0.95, desc="Writing the report")
        ranking = rank_sources(embedded[0], embedded[1:])
        paths = write_ranking_report(ranking, run / "report")
        page = paths["html"].read_text(encoding="utf-8")
        frame = (f'<iframe class="vslerp-report" title="Ranking report" sandbox="" '
                 f'srcdoc="{html.escape(page, quote=True)}"></iframe>')
        table = [["ref" if r.is_reference else r.rank, r.name, r.n, round(r.mean, 4),
                  round(r.median, 4), round(r.std, 4), round(r.w1, 4), round(r.kl, 4),
                  round(r.ks, 4)] for r in ranking.ranked()]
        best = next(r for r in ranking.ranked() if not r.is_reference)
        notes = [n for s in staged for n in s.notes]
        summary = "\n".join([
            f"Closest to the reference **{md(ranking.reference.name)}**: **{md(best.name)}** "
            f"({PRIMARY_DISTANCE.upper()} = {best.w1:.4f}). Sources are ranked by the "
            f"Wasserstein-1 distance between their conformity distribution and the "
            f"reference's (KL and KS are reported too); conformity is measured against the "
            f"reference set with {md(encoder_label(encoder.id))}.",
            *([""] + [f"Note: {md(n)}" for n in notes] if notes else []),
        ])
        files = [str(paths[k]) for k in ("html", "ranking_csv", "ranking_json", "scores_csv",
                                         "histogram", "cdf")]
        return table, str(paths["histogram"]), frame, files, summary

    # ------------------------------------------------------------------------ about

    def backend_info(self, backend: str) -> str:
        """Markdown: the backend and its image mean, if loaded (never loads anything)."""
        editor = self.models.loaded_editor(backend)
        if editor is None:
            return (f"**Backend**: {md(backend_label(backend))}, not loaded yet: it loads on "
                    f"first use (Interpolate or Grid), or with the button below.")
        mean = editor.image_mean()
        return "\n".join([
            f"**Backend**: {md(backend_label(editor.id))} on {md(str(editor.device))} "
            f"({md(str(editor.dtype).removeprefix('torch.'))})",
            "",
            f"**Image encoder**: {md(editor.encoder_id)}",
            "",
            f"**Image mean m**: {md(mean.source or editor.mean_source)} · D = {mean.dim} · "
            f"‖m‖ = {mean.norm:.4f}",
        ])

    @user_errors
    def load_backend(self, backend: str, progress: Any = PROGRESS) -> str:
        """Load ``backend`` now (if it is not yet) and describe it."""
        editor = self.models.editor(backend, _say(progress))
        with self.models.lock:
            editor.image_mean()
        return self.backend_info(backend)
