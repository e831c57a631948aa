"""``vslerp rank``: rank generators or captioners against a reference by conformity.

The command is a thin chain over the Python API: :func:`vslerp.sources.open_source` for every
``NAME=PATH`` (all opened, i.e. validated, before anything is embedded) →
:func:`vslerp.jobs.embed_source` (resumable: each source has its own job folder under the work
dir, so rerunning the same command reuses finished shards) → :func:`vslerp.ranking.rank_sources`
→ :func:`vslerp.report.write_ranking_report`. Bad input (a missing path, an empty folder, an
unknown encoder, mismatched dimensions, a source whose items all failed) stops the command with
a one-line error and exit code 2 before any report file is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from vslerp.cli.app import app
from vslerp.encoders import DEFAULT_ENCODER
from vslerp.errors import InputError
from vslerp.ranking import (
    DEFAULT_BINS,
    DEFAULT_EXAMPLES,
    DEFAULT_SMOOTHING,
    Ranking,
)
from vslerp.report import write_ranking_report
from vslerp.workflow import rank_paths

MODALITY_CHOICES = ("auto", "image", "text", "embeddings")
RUNNER_CHOICES = ("local", "ray")


def check_out_dir(out: Path) -> Path:
    """Refuse an output path that exists and is not a folder."""
    if out.exists() and not out.is_dir():
        raise InputError("--output", str(out), "exists and is not a folder")
    return out


def check_choice(value: str, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise InputError(option, value, f"expected one of {', '.join(choices)}")
    return value


def _printable(text: str, width: int | None = None) -> str:
    """``text`` with control characters replaced (it goes to a terminal), optionally cut."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    if width is not None and len(clean) > width:
        clean = clean[: width - 1] + "…"
    return clean


def ranking_table(ranking: Ranking) -> str:
    """The ranking as an aligned plain-text table (reference first, then by rank)."""
    header = ["rank", "source", "n", "failed", "mean", "median", "std", "KL", "W1", "KS",
              "by mean"]
    lines = [header]
    for row in ranking.ranked():
        lines.append([
            "ref" if row.is_reference else str(row.rank), _printable(row.name, 32), str(row.n),
            str(row.n_failed), f"{row.mean:.4f}", f"{row.median:.4f}", f"{row.std:.4f}",
            f"{row.kl:.3f}", f"{row.w1:.4f}", f"{row.ks:.3f}", str(row.rank_by_mean),
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [cell.ljust(w) if i == 1 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(line, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


@app.command("rank")
def rank_command(
    reference: Annotated[str, typer.Option(
        "--reference", "-r", metavar="NAME=PATH",
        help="The reference set (real images, human captions): an image folder, a caption file "
             "(.txt/.jsonl/.csv/COCO .json) or an embeddings file, as NAME=PATH or PATH.")],
    source: Annotated[list[str], typer.Option(
        "--source", "-s", metavar="NAME=PATH",
        help="A set to rank (generator outputs, captioner outputs); repeat for each. A bare PATH "
             "is named after its folder or file.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Report folder (report.html, histogram.png, CSV, JSON).")],
    encoder: Annotated[str, typer.Option(
        "--encoder", "-e", help="Evaluator encoder spec: openclip:NAME/PRETRAINED, hf:ID, "
                                "st:NAME (texts only) or tiny.")] = DEFAULT_ENCODER,
    modality: Annotated[str, typer.Option(
        help="auto (folders are images; the suffix decides for files), image, text or "
             "embeddings; applies to every source.")] = "auto",
    caption_column: Annotated[str | None, typer.Option(
        help="Caption field/column in .jsonl/.csv/COCO files (default: caption, text or "
             "sentence).")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="Where embedding jobs keep their shards (default: OUTPUT/.work); rerunning the "
             "same command resumes from it.")] = None,
    batch_size: Annotated[int, typer.Option(help="Items per forward pass.")] = 32,
    runner: Annotated[str, typer.Option(help="local or ray (Ray Data).")] = "local",
    device: Annotated[str | None, typer.Option(
        help="Torch device for the encoder (default: CUDA when available).")] = None,
    bins: Annotated[int, typer.Option(
        help="Bins over the pooled conformity range (KL and histograms).")] = DEFAULT_BINS,
    smoothing: Annotated[float, typer.Option(
        help="Pseudo-count added to every bin for the KL divergence.")] = DEFAULT_SMOOTHING,
    examples: Annotated[int, typer.Option(
        help="Most/least conforming examples shown per source.")] = DEFAULT_EXAMPLES,
) -> None:
    """Rank sources by how close their conformity distribution is to the reference's.

    Conformity C(v) = mean_k cos(v, v_k) over the reference set: low = rare, detailed content;
    high = generic content. Sources are ranked by the Wasserstein-1 distance between their
    conformity distribution and the reference's (KL and KS are reported too).
    """
    check_choice(modality, MODALITY_CHOICES, "--modality")
    check_choice(runner, RUNNER_CHOICES, "--runner")
    out = check_out_dir(output.expanduser())
    ranking = rank_paths(
        reference, source, encoder=encoder, work_dir=(work_dir or out / ".work").expanduser(),
        modality=modality, caption_column=caption_column,  # type: ignore[arg-type]
        batch_size=batch_size, runner=runner, device=device,  # type: ignore[arg-type]
        bins=bins, smoothing=smoothing, examples=examples)
    paths = write_ranking_report(ranking, out)
    typer.echo(ranking_table(ranking))
    typer.echo("")
    typer.echo(f"report: {paths['html']}")
    for key in ("histogram", "ranking_csv", "ranking_json", "scores_csv"):
        typer.echo(f"        {paths[key]}")
