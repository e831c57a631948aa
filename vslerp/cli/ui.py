"""``vslerp ui``: launch the web UI (Gradio) over editing and evaluation.

The app itself lives in :mod:`ui.app`; this command checks its options and serves it. Gradio and
the models are imported only when the command runs, so ``vslerp --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vslerp.cli.app import app
from vslerp.editors import EDITORS
from vslerp.errors import InputError

__all__ = ["ui_command"]


@app.command("ui")
def ui_command(
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help=f"Decoder backend to start with: {', '.join(EDITORS)} (default: "
                              "kandinsky-2.2 when its weights are cached or downloadable, "
                              "else tiny, with a banner saying why). Any backend can be picked "
                              "in the page.")] = None,
    encoder: Annotated[str | None, typer.Option(
        "--encoder", "-e", help="Evaluator encoder for the Conformity and Rank tabs: "
                                "openclip:NAME/PRETRAINED, hf:ID, st:NAME or tiny (default: "
                                "openclip:ViT-B-32/openai when available, else tiny).")] = None,
    host: Annotated[str, typer.Option(
        "--host", help="Interface to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port.")] = 7860,
    share: Annotated[bool, typer.Option(
        "--share", help="Also open a public gradio.live link (off by default).")] = False,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", help="The app's output folder (grids, reports); default: a new "
                             "temporary folder.")] = None,
    device: Annotated[str | None, typer.Option(
        "--device", help="Torch device for every model (default: cuda when available).")] = None,
) -> None:
    """Launch the web UI: interpolate, render t×α grids, score conformity, rank generators."""
    if model is not None and model not in EDITORS:
        raise InputError("--model", model, f"unknown backend; known: {', '.join(EDITORS)}")
    if not 1 <= port <= 65535:
        raise InputError("--port", port, "expected a TCP port in [1, 65535]")
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise InputError("--output-dir", str(output_dir), "exists and is not a folder")
    from ui.app import build_app, launch_app

    demo = build_app(model=model, encoder=encoder, output_dir=output_dir, device=device)
    launch_app(demo, host=host, port=port, share=share)
