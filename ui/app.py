"""The vslerp web UI: a Gradio Blocks app over the vslerp Python API.

``build_app(model=None, encoder=None)`` builds the app; :func:`launch_app` serves it (``vslerp
ui`` does both). Tabs:

* **Interpolate**: endpoints A and B (an uploaded image or a prompt), sliders for t and α, the
  decoded ``vSLERP(A, B, t, α)`` and what the geometry says (cos(A, B), the angles, estimated
  conformity). Releasing a slider decodes again; endpoints are never encoded twice (the
  editor's embedding cache) and recent results are kept (:class:`ui.models.ResultCache`).
* **Grid**: a t × α grid (:func:`vslerp.grid.render_grid`): gallery, contact sheet, GIFs, zip.
* **Conformity**: exact and estimated conformity of uploaded images or pasted captions.
* **Rank generators**: several uploaded sets ranked against a reference set, with the report.
* **About**: the formula, what t and α do, the backend and mean in use, the paper.

Behaviour under load: one queue (``max_size``), model events share one slot
(``concurrency_id="model"``, ``concurrency_limit=1``), and every model call also holds the
registry's lock (see :mod:`ui.models`). Uploads are limited by ``max_file_size`` and read only
from Gradio's upload cache; the server may serve files only from the app's own output folder.
"""

from __future__ import annotations

import functools
import os
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The app works offline and phones nowhere; a user may still opt in by setting the variable.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from ui.actions import ENDPOINT_KINDS, MAX_GRID_CELLS, SCORE_KINDS, Actions
from ui.models import (
    TINY,
    ModelRegistry,
    ResultCache,
    backend_choices,
    backend_defaults,
    choose_backend,
    choose_encoder,
    encoder_label,
)
from ui.outputs import OutputFolder
from vslerp.encoders import DEFAULT_ENCODER
from vslerp.errors import InputError
from vslerp.imaging import DEFAULT_MAX_PIXELS

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "EXAMPLES_DIR",
    "AppSettings",
    "app_settings",
    "build_app",
    "example_images",
    "launch_app",
    "remove_outputs",
]

#: Largest upload Gradio accepts (per file).
DEFAULT_MAX_FILE_SIZE = "200mb"
#: Public-domain / CC0 photos from scikit-image's sample data, shipped for the examples.
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
PAPER_URL = "https://arxiv.org/abs/2411.14517"

TITLE = "vslerp · generative editing and evaluation in CLIP space"
INTRO = (
    "Move between two images **around the CLIP image mean** (vSLERP), sweep t × α grids, and "
    "score how typical images or captions are (**conformity**). Based on "
    f"[*The Double-Ellipsoid Geometry of CLIP*]({PAPER_URL}) (Levi & Gilboa, ICML 2025)."
)

ABOUT = f"""
### The formula

    vSLERP(v_A, v_B, t, α) = SLERP(v_A − α·m, v_B − α·m, t) + α·m

Raw CLIP image embeddings lie on a thin shell whose centre, the **image mean m**, is far from
the origin. vSLERP walks the arc between two embeddings around a centre moved along m:

* **t** moves from A (t = 0) to B (t = 1); values outside [0, 1] extrapolate along the same arc.
* **α** moves the centre of that arc: α = 0 is plain SLERP around the origin; other values
  bend the path towards or away from the mean. Fixing t and sweeping α edits one picture
  (a "vertical" move); sweeping t morphs A into B.
* Every image is decoded from the **same initial noise** (the seed), so the instance is kept
  across t and α.

### Conformity

    C(v_j) = mean over k ≠ j of cos(v_j, v_k)

How common a sample is within a set: **low conformity = rare, detailed content**, high =
generic content. The paper estimates it as a·cos(m, v) + b (Pearson 0.9998 on MS-COCO), and
ranks generators and captioners by how their conformity distribution compares with real
images or human captions.

### Paper

Meir Yossef Levi and Guy Gilboa, [*The Double-Ellipsoid Geometry of CLIP*]({PAPER_URL}),
ICML 2025 ([PDF](https://arxiv.org/pdf/2411.14517)).
"""

CAPTION_EXAMPLE = "\n".join([
    "a dog running on the beach",
    "a brown dog runs along the sand by the sea",
    "a photo of a dog",
    "an old lighthouse on a rocky cliff at sunset, waves crashing below",
    "a bowl of ramen with a soft-boiled egg, spring onions and nori",
    "a dog on a beach",
])

CSS = """
.vslerp-banner { border-left: 4px solid #d97706; background: #fffbeb; color: #451a03;
  padding: 6px 14px !important; border-radius: 6px; }
.vslerp-banner p { margin: 4px 0; }
.vslerp-intro p { margin-top: 0; }
.vslerp-report { width: 100%; height: 900px; border: 1px solid #d0d7de; border-radius: 8px;
  background: #ffffff; }
#vslerp-result img { width: 100%; height: 100%; object-fit: contain; }
#vslerp-geometry td, #vslerp-geometry th { white-space: nowrap; }
body.vslerp-tiny #vslerp-result img, body.vslerp-tiny #vslerp-gallery img,
body.vslerp-tiny #vslerp-sheet img { image-rendering: pixelated; }
"""


_TINY_CLASS_JS = (f"(backend) => {{ document.body.classList.toggle('vslerp-tiny', "
                  f"backend === '{TINY}'); return []; }}")


def _theme() -> Any:
    # System fonts only: the app works offline and loads nothing from third-party servers.
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate",
                          font=["Inter", "system-ui", "Segoe UI", "Helvetica", "Arial",
                                "sans-serif"],
                          font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"])


@dataclass(frozen=True)
class AppSettings:
    """What :func:`launch_app` needs to know about an app built by :func:`build_app`."""

    outputs: OutputFolder
    max_file_size: str | int
    backend: str
    encoder: str


_SETTINGS: weakref.WeakKeyDictionary[gr.Blocks, AppSettings] = weakref.WeakKeyDictionary()


def _banner(model: str, model_reason: str | None, encoder: str,
            encoder_reason: str | None) -> str:
    parts = []
    if model == TINY:
        tiny = ("**Running the tiny backend (offline, random weights).** Its pictures come from "
                "random weights: they show the pipeline working, not what vSLERP does to real "
                "images.")
        if model_reason is not None:
            tiny += (f" Kandinsky 2.2 is not available: {model_reason} Then restart with "
                     "`vslerp ui --model kandinsky-2.2` (or pick it in the backend menu).")
        parts.append(tiny)
    elif model_reason is not None:
        parts.append(f"**{model} may not load.** {model_reason}")
    if encoder_reason is not None:
        parts.append(f"**Evaluator encoder: tiny CLIP (offline, random weights).** The "
                     f"paper's encoder {DEFAULT_ENCODER} is not available: {encoder_reason}")
    return "\n\n".join(parts)


def example_images() -> dict[str, str]:
    """Example photos by name (astronaut, coffee, chelsea): the copies shipped in
    ``assets/examples``; empty when they are missing (e.g. a wheel install)."""
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {p.stem: str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))}


@dataclass
class _Endpoint:
    kind: gr.Radio
    file: gr.File
    prompt: gr.Textbox
    preview: gr.Image


def _endpoint_inputs(label: str) -> _Endpoint:
    with gr.Column(min_width=220):
        kind = gr.Radio(list(ENDPOINT_KINDS), value="Image", label=f"Endpoint {label}",
                        info="an uploaded image, or a text prompt (embedded by the backend's "
                             "prior)", elem_id=f"vslerp-kind-{label.lower()}")
        file = gr.File(label=f"Image {label} (PNG, JPEG, WebP, GIF, BMP or TIFF)",
                       file_count="single", elem_id=f"vslerp-file-{label.lower()}")
        prompt = gr.Textbox(label=f"Prompt {label}", lines=2, visible=False,
                            placeholder="a red fox in the snow",
                            elem_id=f"vslerp-prompt-{label.lower()}")
        preview = gr.Image(label=f"{label}", type="pil", interactive=False, height=220,
                           elem_id=f"vslerp-preview-{label.lower()}")
    return _Endpoint(kind, file, prompt, preview)


def _toggle_kind(kind: str) -> tuple[Any, Any, Any]:
    image = kind == "Image"
    return gr.File(visible=image), gr.Textbox(visible=not image), gr.Image(visible=image)


def _toggle_score_kind(kind: str) -> tuple[Any, Any, Any, Any]:
    images = kind == "Images"
    return (gr.File(visible=images), gr.Textbox(visible=not images), gr.File(visible=images),
            gr.Textbox(visible=not images))


def _source_inputs(i: int) -> tuple[gr.Textbox, gr.File]:
    """Name and files of the ``i``-th set to rank, in a column of their own."""
    with gr.Column():
        name = gr.Textbox(f"generator {i}", label=f"Source {i} name",
                          elem_id=f"vslerp-rank-name-{i}")
        files = gr.File(file_count="multiple", label=f"Source {i}",
                        elem_id=f"vslerp-rank-files-{i}")
    return name, files


def _decode_settings(defaults_steps: int, defaults_guidance: float,
                     prefix: str) -> tuple[gr.Number, gr.Slider, gr.Slider]:
    with gr.Row():
        seed = gr.Number(0, precision=0, minimum=0, label="Seed",
                         info="initial noise, shared by every image", elem_id=f"{prefix}-seed")
        steps = gr.Slider(1, 100, defaults_steps, step=1, label="Steps",
                          info="denoising steps", elem_id=f"{prefix}-steps")
        guidance = gr.Slider(0, 15, defaults_guidance, step=0.5, label="Guidance",
                             info="classifier-free guidance (≤ 1 turns it off)",
                             elem_id=f"{prefix}-guidance")
    return seed, steps, guidance


def build_app(model: str | None = None, encoder: str | None = None, *,
              output_dir: str | os.PathLike[str] | None = None, device: str | None = None,
              max_pixels: int = DEFAULT_MAX_PIXELS,
              max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
              max_grid_cells: int = MAX_GRID_CELLS, queue_size: int = 32,
              models: ModelRegistry | None = None) -> gr.Blocks:
    """Build the web UI.

    Args:
        model: the decoder backend to start with (a :data:`vslerp.editors.EDITORS` id), or
            ``None``: ``kandinsky-2.2`` when its weights can be had, else ``tiny`` with a
            banner saying why. Any backend can be picked in the page; each loads on first use.
        encoder: the evaluator encoder spec for Conformity and Rank, or ``None``: the paper's
            ``openclip:ViT-B-32/openai`` when its weights can be had, else ``tiny``.
        output_dir: the app's own output folder (grids, reports, staged uploads); default a
            new temporary folder. The server serves files from nowhere else.
        device: torch device for every model (default: CUDA when available).
        max_pixels: uploaded images with more pixels are refused (checked from the header).
        max_file_size: largest upload, e.g. ``"200mb"`` (applied by :func:`launch_app`).
        max_grid_cells: most cells a grid may have.
        queue_size: most requests waiting in the queue.
        models: a :class:`~ui.models.ModelRegistry` to use (tests pass one to watch it).

    Returns:
        The :class:`gradio.Blocks` app, queued; serve it with :func:`launch_app`.

    Raises:
        InputError: an unknown backend id or a bad argument.
    """
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise InputError("queue_size", queue_size, "expected a positive int")
    backend, model_reason = choose_backend(model)
    encoder_spec, encoder_reason = choose_encoder(encoder)
    outputs = OutputFolder(output_dir)
    registry = models if models is not None else ModelRegistry(device=device)
    actions = Actions(registry, outputs, results=ResultCache(), max_pixels=max_pixels,
                      max_grid_cells=max_grid_cells)
    defaults = backend_defaults(backend)
    banner = _banner(backend, model_reason, encoder_spec, encoder_reason)
    examples = example_images()
    model_event: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "model"}
    light: dict[str, Any] = {"api_visibility": "private", "queue": False}

    with gr.Blocks(title="vslerp", analytics_enabled=False,
                   delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(INTRO, elem_classes=["vslerp-intro"])
        gr.Markdown(banner, visible=bool(banner), elem_classes=["vslerp-banner"],
                    elem_id="vslerp-banner")
        with gr.Row(equal_height=True):
            backend_box = gr.Dropdown(
                backend_choices(), value=backend, label="Decoder backend (Interpolate, Grid)",
                info="loads on first use; 'tiny' runs offline with random weights",
                elem_id="vslerp-backend", scale=3)
            encoder_choices = [(encoder_label(s), s) for s in dict.fromkeys(
                [encoder_spec, DEFAULT_ENCODER, TINY])]
            encoder_box = gr.Dropdown(
                encoder_choices, value=encoder_spec, allow_custom_value=True,
                label="Evaluator encoder (Conformity, Rank)",
                info="openclip:NAME/PRETRAINED, hf:MODEL_ID, st:NAME (captions only) or tiny",
                elem_id="vslerp-encoder", scale=3)

        with gr.Tabs():
            # ---------------------------------------------------------------- Interpolate
            with gr.Tab("Interpolate", id="interpolate"), gr.Row():
                with gr.Column(scale=3):
                    with gr.Row():
                        end_a = _endpoint_inputs("A")
                        end_b = _endpoint_inputs("B")
                    t = gr.Slider(0, 1, 0.5, step=0.05, label="t: from A (0) to B (1)",
                                  info="where on the arc between A and B", elem_id="vslerp-t")
                    alpha = gr.Slider(-3, 3, 0, step=0.1, label="α: centre of the arc, "
                                                                "in units of the image mean m",
                                      info="0 = plain SLERP; releasing a slider decodes again",
                                      elem_id="vslerp-alpha")
                    with gr.Accordion("Decoding settings", open=False):
                        seed, steps, guidance = _decode_settings(defaults.steps,
                                                                 defaults.guidance, "vslerp")
                    go = gr.Button("Generate", variant="primary", elem_id="vslerp-generate")
                    if examples:
                        names = list(examples)
                        pairs = [(names[i], names[(i + 1) % len(names)])
                                 for i in range(len(names))]
                        gr.Examples(
                            [["Image", examples[x], "", "Image", examples[y], ""]
                             for x, y in pairs],
                            inputs=[end_a.kind, end_a.file, end_a.prompt, end_b.kind,
                                    end_b.file, end_b.prompt],
                            example_labels=[f"{x} → {y}" for x, y in pairs],
                            label="Examples (public-domain photos from scikit-image)")
                with gr.Column(scale=2):
                    result = gr.Image(label="Result", type="pil", format="png",
                                      interactive=False, height=380, elem_id="vslerp-result")
                    status = gr.Markdown(elem_id="vslerp-status")
                    geometry = gr.Markdown("*The geometry of A, B and the result appears here "
                                           "after the first decode.*", elem_id="vslerp-geometry")

            # ---------------------------------------------------------------- Grid
            with gr.Tab("Grid", id="grid"):
                grid_ends = gr.Markdown(Actions.describe_endpoints("Image", None, "", "Image",
                                                                   None, ""),
                                        elem_id="vslerp-grid-endpoints")
                with gr.Row():
                    grid_a = gr.Image(label="A", type="pil", interactive=False, height=150,
                                      min_width=120, scale=1)
                    grid_b = gr.Image(label="B", type="pil", interactive=False, height=150,
                                      min_width=120, scale=1)
                    with gr.Column(scale=4):
                        with gr.Row():
                            t_values = gr.Textbox(
                                "0:1:5", label="t values", elem_id="vslerp-grid-t",
                                info="start:stop:num (0:1:5 = 0, 0.25, ..., 1) or a comma list")
                            alpha_values = gr.Textbox(
                                "-2:2:5", label="α values", elem_id="vslerp-grid-alpha",
                                info="the same forms; -2:2:5 = -2, -1, 0, 1, 2")
                            batch = gr.Slider(1, 16, 4, step=1, label="Batch size",
                                              info="cells per model call; same images",
                                              elem_id="vslerp-grid-batch")
                        with gr.Accordion("Decoding settings", open=False):
                            g_seed, g_steps, g_guidance = _decode_settings(
                                defaults.steps, defaults.guidance, "vslerp-grid")
                        grid_go = gr.Button("Render grid", variant="primary",
                                            elem_id="vslerp-grid-go")
                grid_summary = gr.Markdown(elem_id="vslerp-grid-summary")
                gallery = gr.Gallery(label="Cells, labelled (t, α)", columns=5, format="png",
                                     object_fit="contain", height="auto",
                                     elem_id="vslerp-gallery")
                with gr.Row():
                    sheet = gr.Image(label="Contact sheet (t down, α across)", type="filepath",
                                     interactive=False, scale=2, elem_id="vslerp-sheet")
                    with gr.Column(scale=1):
                        gif_t = gr.Image(label="Along t: A → B (at the α closest to 0)",
                                         type="filepath", interactive=False, height=200)
                        gif_alpha = gr.Image(label="Along α (at the t closest to 0.5)",
                                             type="filepath", interactive=False, height=200)
                archive = gr.File(label="Everything: cells, sheet, GIFs, embeddings and "
                                        "manifest.json (zip)", elem_id="vslerp-grid-zip")

            # ---------------------------------------------------------------- Conformity
            with gr.Tab("Conformity", id="conformity"):
                gr.Markdown(
                    "How typical is each item? **conformity** is the mean cosine similarity of "
                    "an item to every other uploaded item (or, with a reference set, to the "
                    "reference's items): exact, from the evaluator encoder's raw embeddings. "
                    "**estimated** is the paper's a·cos(m, v) + b, with m the raw mean of the "
                    "set compared against and a, b fitted on these items. Low = rare, detailed; "
                    "high = generic.")
                with gr.Row():
                    with gr.Column(scale=1):
                        score_kind = gr.Radio(list(SCORE_KINDS), value="Images",
                                              label="What to score", elem_id="vslerp-score-kind")
                        score_files = gr.File(
                            file_count="multiple", elem_id="vslerp-score-files",
                            label="Images, .zip archives of images, or .txt caption files")
                        score_text = gr.Textbox(lines=8, visible=False,
                                                label="Captions, one per line",
                                                elem_id="vslerp-score-text")
                        with gr.Accordion("Reference set (optional)", open=False):
                            gr.Markdown("Without one, each item is compared with the other "
                                        "uploaded items.")
                            ref_files = gr.File(file_count="multiple",
                                                label="Reference images (or .zip, .txt)",
                                                elem_id="vslerp-ref-files")
                            ref_text = gr.Textbox(lines=5, visible=False,
                                                  label="Reference captions, one per line")
                        score_go = gr.Button("Score", variant="primary",
                                             elem_id="vslerp-score-go")
                        gr.Examples([["Captions", CAPTION_EXAMPLE]], inputs=[score_kind,
                                                                              score_text],
                                    example_labels=["six captions"], label="Example")
                    with gr.Column(scale=2):
                        score_summary = gr.Markdown(elem_id="vslerp-score-summary")
                        histogram = gr.Image(label="Conformity histogram", type="pil", format="png",
                                             interactive=False, height=300,
                                             elem_id="vslerp-histogram")
                score_table = gr.Dataframe(
                    headers=["#", "item", "conformity", "estimated"],
                    datatype=["number", "str", "number", "number"], interactive=False,
                    label="Scores, most conforming first", elem_id="vslerp-score-table")
                with gr.Row():
                    most = gr.Gallery(label="Most conforming (typical)", columns=4, height=230,
                                      format="png", elem_id="vslerp-most")
                    least = gr.Gallery(label="Least conforming (rare, detailed)", columns=4,
                                       height=230, format="png", elem_id="vslerp-least")
                extremes_text = gr.Markdown(visible=False, elem_id="vslerp-extremes-text")
                scores_csv = gr.File(label="Every score (CSV)", elem_id="vslerp-score-csv")

            # ---------------------------------------------------------------- Rank
            with gr.Tab("Rank generators", id="rank"):
                gr.Markdown(
                    "Upload a **reference set** (real images or human captions) and the outputs "
                    "of up to four generators or captioners (images, .zip archives of images, "
                    "or .txt files with one caption per line). Each set's conformity "
                    "distribution against the reference is compared with the reference's own; "
                    "sources are ranked by the Wasserstein-1 distance (closest first).")
                with gr.Row():
                    with gr.Column():
                        ref_name = gr.Textbox("real", label="Reference name",
                                              elem_id="vslerp-rank-ref-name")
                        rank_ref = gr.File(file_count="multiple", label="Reference set",
                                           elem_id="vslerp-rank-ref")
                    source_inputs: list[Any] = [*_source_inputs(1), *_source_inputs(2)]
                with gr.Accordion("More sources", open=False), gr.Row():
                    source_inputs += [*_source_inputs(3), *_source_inputs(4)]
                rank_go = gr.Button("Rank", variant="primary", elem_id="vslerp-rank-go")
                rank_summary = gr.Markdown(elem_id="vslerp-rank-summary")
                rank_table = gr.Dataframe(
                    headers=["rank", "source", "n", "mean", "median", "std", "W1", "KL",
                             "KS"], interactive=False,
                    label="Ranking (ref = the reference; 1 = closest to it)",
                    elem_id="vslerp-rank-table")
                rank_hist = gr.Image(label="Conformity distributions", type="filepath",
                                     interactive=False, height=420, elem_id="vslerp-rank-hist")
                report_files = gr.File(file_count="multiple",
                                       label="Report files (HTML, CSV, JSON, PNG)",
                                       elem_id="vslerp-report-files")
                with gr.Accordion("Full report", open=True):
                    report = gr.HTML(elem_id="vslerp-report")

            # ---------------------------------------------------------------- About
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
                gr.Markdown("### In use")
                about_backend = gr.Markdown(actions.backend_info(backend),
                                            elem_id="vslerp-about-backend")
                load_go = gr.Button("Load the backend now", elem_id="vslerp-load")

        # -------------------------------------------------------------------- events
        live = gr.State(False)  # True once a first image was generated: sliders then decode
        for end, mirror, label in ((end_a, grid_a, "A"), (end_b, grid_b, "B")):
            end.kind.change(_toggle_kind, end.kind, [end.file, end.prompt, end.preview],
                            **light)
            end.file.change(functools.partial(actions.preview, what=f"Image {label}"),
                            end.file, [end.preview, mirror], api_name=f"preview_{label.lower()}",
                            api_visibility="undocumented", concurrency_limit=4)
        endpoint_fields = [end_a.kind, end_a.file, end_a.prompt, end_b.kind, end_b.file,
                           end_b.prompt]
        for component in endpoint_fields:
            component.change(Actions.describe_endpoints, endpoint_fields, grid_ends, **light)

        interpolate_inputs = [backend_box, *endpoint_fields, t, alpha, seed, steps, guidance]
        interpolate_outputs = [result, geometry, status]
        generated = go.click(actions.interpolate, interpolate_inputs, interpolate_outputs,
                             api_name="interpolate", **model_event)
        generated.success(lambda: True, None, live, **light)
        generated.then(actions.backend_info, backend_box, about_backend, **light)
        for slider in (t, alpha):
            slider.release(actions.scrub, [live, *interpolate_inputs], interpolate_outputs,
                           api_visibility="private", trigger_mode="always_last", **model_event)

        grid_go.click(actions.grid, [backend_box, *endpoint_fields, t_values, alpha_values,
                                     g_seed, g_steps, g_guidance, batch],
                      [gallery, sheet, gif_t, gif_alpha, archive, grid_summary],
                      api_name="grid", **model_event).then(
            actions.backend_info, backend_box, about_backend, **light)

        def on_backend(model_id: str) -> tuple[Any, ...]:
            d = backend_defaults(model_id)
            return (gr.Slider(value=d.steps), gr.Slider(value=d.guidance),
                    gr.Slider(value=d.steps), gr.Slider(value=d.guidance),
                    actions.backend_info(model_id))

        backend_box.change(on_backend, backend_box,
                           [steps, guidance, g_steps, g_guidance, about_backend], **light)
        # Pixel art stays crisp when the tiny model's 64 px pictures are shown large.
        backend_box.change(None, backend_box, None, js=_TINY_CLASS_JS, **light)
        demo.load(None, backend_box, None, js=_TINY_CLASS_JS, **light)

        score_kind.change(_toggle_score_kind, score_kind,
                          [score_files, score_text, ref_files, ref_text], **light)
        score_go.click(actions.conformity,
                       [encoder_box, score_kind, score_files, score_text, ref_files, ref_text],
                       [score_table, histogram, most, least, extremes_text, scores_csv,
                        score_summary], api_name="conformity", **model_event)

        rank_go.click(actions.rank, [encoder_box, ref_name, rank_ref, *source_inputs],
                      [rank_table, rank_hist, report, report_files, rank_summary],
                      api_name="rank", **model_event)
        load_go.click(actions.load_backend, backend_box, about_backend, api_name="load_backend",
                      **model_event)

    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    _SETTINGS[demo] = AppSettings(outputs=outputs, max_file_size=max_file_size,
                                  backend=backend, encoder=encoder_spec)
    return demo


def app_settings(demo: gr.Blocks) -> AppSettings:
    """The settings :func:`build_app` recorded for ``demo``."""
    settings = _SETTINGS.get(demo)
    if settings is None:
        raise InputError("demo", demo, "was not built by ui.app.build_app")
    return settings


def launch_app(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = 7860,
               share: bool = False, prevent_thread_lock: bool = False,
               quiet: bool = False) -> Any:
    """Serve an app from :func:`build_app`.

    Args:
        host: interface to listen on (``127.0.0.1``: this machine only; ``0.0.0.0``: all).
        port: TCP port; ``None`` lets Gradio pick a free one from 7860 up.
        share: also open a public gradio.live link (off unless asked for).
        prevent_thread_lock: return at once instead of serving until interrupted (tests).
        quiet: do not print the URL.

    Returns:
        What :meth:`gradio.Blocks.launch` returns (``(app, local_url, share_url)``).
    """
    settings = app_settings(demo)
    if not isinstance(host, str) or not host.strip():
        raise InputError("host", host, "expected an interface name or address")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 1 <= port <= 65535):
        raise InputError("port", port, "expected a TCP port in [1, 65535]")
    if not isinstance(share, bool):
        raise InputError("share", share, "expected True or False")
    return demo.launch(
        server_name=host, server_port=port, share=share, show_error=False, quiet=quiet,
        prevent_thread_lock=prevent_thread_lock, max_file_size=settings.max_file_size,
        allowed_paths=[str(settings.outputs.root)], theme=_theme(), css=CSS, ssr_mode=False,
        inbrowser=False)


def remove_outputs(demo: gr.Blocks) -> None:
    """Delete the app's output folder (for apps built with a temporary one)."""
    shutil.rmtree(app_settings(demo).outputs.root, ignore_errors=True)
