"""``vslerp means compute | convert | show``: modality means as ``.safetensors`` files."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vslerp.cli.app import app
from vslerp.errors import InputError
from vslerp.fileio import load_embeddings
from vslerp.means import ModalityMean, convert_legacy_mean

means_app = typer.Typer(help="Compute, convert and inspect modality means.", no_args_is_help=True)
app.add_typer(means_app, name="means")


class ModalityChoice(str, Enum):
    """``--modality`` values."""

    image = "image"
    text = "text"


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise InputError("--output", str(path), "is a directory; give a .safetensors file name")
    if path.suffix.lower() != ".safetensors":
        raise InputError("--output", str(path), "expected a .safetensors file name")


def _describe(mean: ModalityMean, path: Path) -> str:
    info = mean.info()
    lines = [
        f"file:      {path}",
        f"dim:       {info['dim']}",
        f"encoder:   {info['encoder']}",
        f"modality:  {info['modality']}",
        f"source:    {info['source']}",
        f"count:     {info['count'] if info['count'] else 'unknown'}",
        f"‖m‖:       {info['mean_norm']:.6g}",
        "‖ū‖:       " + ("none (raw mean only)" if info["unit_mean_norm"] is None
                         else f"{info['unit_mean_norm']:.6g}"),
        f"std:       {'yes' if info['has_std'] else 'no'}",
    ]
    return "\n".join(lines)


EmbeddingsOpt = Annotated[Path, typer.Option(
    "--embeddings", "-e", help="(N, D) raw embeddings: .npy, .npz or .safetensors.")]
OutputOpt = Annotated[Path, typer.Option("--output", "-o",
                                         help="Where to write the .safetensors mean.")]
SourceOpt = Annotated[str | None, typer.Option(
    "--source", help="Free-text provenance (default: the input file's name).")]


@means_app.command("compute")
def compute_command(
    embeddings: EmbeddingsOpt,
    output: OutputOpt,
    encoder: Annotated[str, typer.Option(
        "--encoder", help="Encoder id the embeddings came from.")] = "unknown",
    modality: Annotated[ModalityChoice, typer.Option(
        "--modality", help="Modality of the embeddings.")] = ModalityChoice.image,
    source: SourceOpt = None,
) -> None:
    """Mean, mean of unit vectors and std of an embedding matrix."""
    _check_output(output)
    X = load_embeddings(embeddings)
    mean = ModalityMean.from_embeddings(
        X, encoder=encoder, modality=modality.value,
        source=source if source is not None else f"embeddings file {embeddings.name}")
    mean.save(output)
    typer.echo(_describe(mean, output))


@means_app.command("convert")
def convert_command(
    legacy: Annotated[Path, typer.Argument(
        help="Legacy .pt file holding a (D,) or (1, D) tensor.")],
    output: OutputOpt,
    encoder: Annotated[str, typer.Option("--encoder", help="Encoder id the mean belongs to.")],
    modality: Annotated[ModalityChoice, typer.Option("--modality", help="Modality of the mean.")],
    source: SourceOpt = None,
) -> None:
    """Import a legacy tensor file (read with weights_only=True; pickled objects are refused)."""
    _check_output(output)
    mean = convert_legacy_mean(legacy, encoder=encoder, modality=modality.value, source=source)
    mean.save(output)
    typer.echo(_describe(mean, output))


@means_app.command("show")
def show_command(
    path: Annotated[Path, typer.Argument(help="A .safetensors modality mean.")],
) -> None:
    """Print a mean file's dimension, encoder, modality, source, count and ‖m‖."""
    typer.echo(_describe(ModalityMean.load(path), path))
