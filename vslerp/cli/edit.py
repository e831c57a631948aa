"""``vslerp interpolate`` and ``vslerp grid``: generative editing with vSLERP.

Endpoints ``A`` and ``B`` are image paths or ``prompt:...`` texts (embedded by the backend's
prior). Both commands validate every argument and load the endpoint images before loading a
model, then call :func:`vslerp.grid.interpolate` / :func:`vslerp.grid.render_grid`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vslerp.cli.app import app
from vslerp.editors import EDITORS, Editor, load_editor
from vslerp.errors import InputError
from vslerp.grid import interpolate, parse_endpoint, parse_values, render_grid
from vslerp.imaging import save_image

__all__ = ["grid_command", "interpolate_command"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help=f"Backend: {', '.join(EDITORS)}.")]
MeanOpt = Annotated[Path | None, typer.Option(
    "--mean", help="Image mean: a .safetensors mean file, or a folder of images to compute it "
                   "from (default: the backend's own).")]
DeviceOpt = Annotated[str | None, typer.Option(
    "--device", help="cuda, cpu, cuda:1, ... (default: cuda when available).")]
DtypeOpt = Annotated[str | None, typer.Option(
    "--dtype", help="float16, bfloat16 or float32 (default: float16 on CUDA, else float32).")]
RevisionOpt = Annotated[str | None, typer.Option(
    "--revision", help="Hub revision of the decoder repository.")]
OfflineOpt = Annotated[bool, typer.Option(
    "--offline", help="Never use the network; load models from the local cache only.")]
CpuOffloadOpt = Annotated[bool, typer.Option(
    "--cpu-offload", help="Keep only the running model on the GPU (diffusers' "
                          "enable_model_cpu_offload; CUDA only): less memory, slower.")]
HeightOpt = Annotated[int | None, typer.Option("--height", help="Output height in pixels.")]
WidthOpt = Annotated[int | None, typer.Option("--width", help="Output width in pixels.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Noise seed shared by every cell.")]
StepsOpt = Annotated[int, typer.Option("--steps", help="Denoising steps.")]
GuidanceOpt = Annotated[float, typer.Option("--guidance", help="Classifier-free guidance.")]
EndpointArg = Annotated[str, typer.Argument(help="Image path, or prompt:TEXT.")]


def _load(model: str, *, mean: Path | None, device: str | None, dtype: str | None,
          revision: str | None, offline: bool, cpu_offload: bool = False) -> Editor:
    if model not in EDITORS:
        raise InputError("--model", model, f"unknown model; known: {', '.join(EDITORS)}")
    if mean is not None and not mean.exists():
        raise InputError("--mean", str(mean), "no such file or folder")
    if cpu_offload:
        import torch

        on_cuda = device.startswith("cuda") if device else torch.cuda.is_available()
        if not on_cuda or not torch.cuda.is_available():
            raise InputError("--cpu-offload", True,
                             f"model CPU offload needs a CUDA device (device: {device or 'cpu'})")
    return load_editor(model, device=device, dtype=dtype, revision=revision,
                       local_files_only=offline, mean=mean, cpu_offload=cpu_offload)


def _check_endpoints(a: str, b: str) -> None:
    """Load both endpoints now, so a bad path fails before any model is loaded."""
    parse_endpoint(a, "A")
    parse_endpoint(b, "B")


class _Progress:
    """A tqdm bar over decoded cells, driven by ``progress(done, total)`` callbacks."""

    def __init__(self, desc: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=None, desc=desc, unit="cell", leave=True)

    def __call__(self, done: int, total: int) -> None:
        if self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


@app.command("interpolate")
def interpolate_command(
    a: EndpointArg,
    b: EndpointArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Image file to write.")],
    t: Annotated[float, typer.Option("--t", help="Position between A (0) and B (1).")] = 0.5,
    alpha: Annotated[float, typer.Option(
        "--alpha", help="Shift of the centre along the image mean (0 = SLERP).")] = 0.0,
    model: ModelOpt = "kandinsky-2.2",
    mean: MeanOpt = None,
    seed: SeedOpt = 0,
    steps: StepsOpt = 25,
    guidance: GuidanceOpt = 4.0,
    height: HeightOpt = None,
    width: WidthOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    revision: RevisionOpt = None,
    offline: OfflineOpt = False,
    cpu_offload: CpuOffloadOpt = False,
) -> None:
    """Decode one vSLERP interpolation between A and B."""
    if output.is_dir() or output.suffix.lower() not in _IMAGE_SUFFIXES:
        raise InputError("--output", str(output), f"expected an image file name ending in "
                                                  f"{', '.join(_IMAGE_SUFFIXES)}")
    _check_endpoints(a, b)
    editor = _load(model, mean=mean, device=device, dtype=dtype, revision=revision,
                   offline=offline, cpu_offload=cpu_offload)
    image = interpolate(editor, a, b, t=t, alpha=alpha, seed=seed, steps=steps,
                        guidance=guidance, height=height, width=width)
    save_image(image, output)
    typer.echo(f"wrote {output} ({image.width}x{image.height}, {model}, t={t:g}, "
               f"alpha={alpha:g}, seed={seed})")


@app.command("grid")
def grid_command(
    a: EndpointArg,
    b: EndpointArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into.")],
    t: Annotated[str, typer.Option(
        "--t", help="t values: start:stop:num, or a comma list.")] = "0:1:5",
    alpha: Annotated[str, typer.Option(
        "--alpha", help="alpha values: start:stop:num, or a comma list (write "
                        "--alpha=-2:2:5 for a negative start).")] = "-2:2:5",
    model: ModelOpt = "kandinsky-2.2",
    mean: MeanOpt = None,
    seed: SeedOpt = 0,
    steps: StepsOpt = 25,
    guidance: GuidanceOpt = 4.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Cells per decoder call.")] = 4,
    height: HeightOpt = None,
    width: WidthOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    revision: RevisionOpt = None,
    offline: OfflineOpt = False,
    cpu_offload: CpuOffloadOpt = False,
) -> None:
    """Render a t × alpha vSLERP grid: cells, contact sheet, GIFs and a JSON manifest."""
    if output.exists() and not output.is_dir():
        raise InputError("--output", str(output), "exists and is not a directory")
    t_values = parse_values("--t", t)
    alpha_values = parse_values("--alpha", alpha)
    _check_endpoints(a, b)
    editor = _load(model, mean=mean, device=device, dtype=dtype, revision=revision,
                   offline=offline, cpu_offload=cpu_offload)
    progress = _Progress("cells")
    try:
        result = render_grid(editor, a, b, t=t_values, alpha=alpha_values, seed=seed,
                             steps=steps, guidance=guidance, batch_size=batch_size,
                             height=height, width=width, progress=progress)
    finally:
        progress.close()
    manifest_path = result.save(output)
    n_t, n_k = result.shape
    info: dict[str, Any] = result.metadata
    typer.echo(f"wrote {n_t}x{n_k} grid ({info['unique_cells']} cells decoded) to {output}: "
               f"sheet {output / 'sheet.png'}, manifest {manifest_path}, cells in "
               f"{output / 'cells'}, GIFs in {output / 'gifs'}")
