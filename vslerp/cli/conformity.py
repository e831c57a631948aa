"""``vslerp conformity``: per-sample exact and estimated conformity of one source.

The source is an image folder (``--images``), a caption file (``--captions``: .txt, .jsonl,
.csv or MS-COCO .json) or an embedding file (``--embeddings``). Images and captions are embedded
by ``--encoder`` through a resumable job (:func:`vslerp.jobs.embed_source`; ``--work-dir`` keeps
its shards so an interrupted run resumes). The command body is a thin chain: open the source
and the reference → embed → :func:`vslerp.conformity.score_embeddings` → :func:`write_scores`
(atomic CSV + JSON). Everything that can be checked before the (long) embedding is checked
first; nothing is written on an error.

Items that cannot be embedded (unreadable images, empty captions) are listed on stderr and in
the summary JSON (``failed``), never fatal. CSV cells are neutralised against formula
injection (:mod:`vslerp.tabular`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vslerp.cli.app import app
from vslerp.conformity import ConformityScores, score_embeddings
from vslerp.encoders import DEFAULT_ENCODER, UnsupportedModalityError, load_encoder, spec_modalities
from vslerp.errors import InputError
from vslerp.fileio import write_json_atomic
from vslerp.jobs import EmbeddedSource, embed_source
from vslerp.means import ModalityMean
from vslerp.sources import open_source
from vslerp.tabular import write_csv_atomic

#: Failed items printed on stderr before "... and N more" (the summary JSON lists them all).
MAX_FAILED_SHOWN = 20


def check_output_paths(output: Path, summary: Path | None) -> None:
    """Refuse outputs that are directories, or a summary path equal to the CSV path."""
    if output.is_dir():
        raise InputError("--output", str(output), "is a directory; give a .csv file name")
    if summary is not None:
        if summary.is_dir():
            raise InputError("--summary", str(summary), "is a directory; give a .json file name")
        if summary.resolve() == output.resolve():
            raise InputError("--summary", str(summary), "is the same file as --output")


def write_scores(scores: ConformityScores, output: Path, *, summary_path: Path | None = None,
                 summary_extra: dict[str, Any] | None = None) -> None:
    """Write the per-sample CSV (``scores.header()`` columns; floats round-trip exactly, a
    missing estimate empty, text cells safe for spreadsheets) and, when asked, the summary JSON
    (``scores.summary()`` updated with ``summary_extra``). Both atomically."""
    write_csv_atomic(output, scores.header(), scores.rows())
    if summary_path is not None:
        summary = scores.summary()
        summary.update(summary_extra or {})
        write_json_atomic(summary_path, summary)


def _pick_source(images: Path | None, captions: Path | None,
                 embeddings: Path | None) -> tuple[str, Path]:
    given = [(k, p) for k, p in (("images", images), ("captions", captions),
                                 ("embeddings", embeddings)) if p is not None]
    if len(given) != 1:
        raise InputError("--images/--captions/--embeddings",
                         ", ".join(f"--{k}" for k, _ in given) or "none",
                         "give exactly one source")
    return given[0]


def _load_reference(path: Path | None, *, dim: int, modality: str,
                    encoder_id: str | None) -> ModalityMean | None:
    """The reference mean, checked against the source: same dimension, same modality and the
    same encoder (a mean computed with ``--encoder unknown`` is accepted for any encoder)."""
    if path is None:
        return None
    mean = ModalityMean.load(path, dim=dim)
    if modality in ("image", "text") and mean.modality != modality:
        raise InputError("--reference", str(path), f"is a {mean.modality} mean; the source is "
                                                   f"{modality}")
    if encoder_id is not None and mean.encoder not in ("unknown", encoder_id):
        raise InputError("--reference", str(path),
                         f"was computed with encoder {mean.encoder!r}, not {encoder_id!r}; "
                         f"pass --encoder {mean.encoder} (means of different encoders are not "
                         f"comparable)")
    return mean


def _report_failed(embedded: EmbeddedSource) -> None:
    if not embedded.failed:
        return
    typer.echo(f"warning: {len(embedded.failed)} of {len(embedded) + len(embedded.failed)} "
               f"items could not be scored:", err=True)
    for item_id, reason in embedded.failed[:MAX_FAILED_SHOWN]:
        typer.echo(f"  {item_id}: {reason}", err=True)
    hidden = len(embedded.failed) - MAX_FAILED_SHOWN
    if hidden > 0:
        typer.echo(f"  ... and {hidden} more (all are listed in --summary)", err=True)


@app.command("conformity")
def conformity_command(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="CSV: id,item,conformity,estimated (id,conformity,estimated for "
                               "--embeddings).")],
    images: Annotated[Path | None, typer.Option(
        "--images", help="Folder of images (searched recursively).")] = None,
    captions: Annotated[Path | None, typer.Option(
        "--captions", help="Caption file: .txt (one per line), .jsonl, .csv or MS-COCO "
                           ".json.")] = None,
    embeddings: Annotated[Path | None, typer.Option(
        "--embeddings", "-e", help="(N, D) raw embeddings: .npy, .npz or .safetensors.")] = None,
    encoder: Annotated[str | None, typer.Option(
        "--encoder", help=f"Encoder for images/captions (default {DEFAULT_ENCODER}; 'tiny' "
                          f"runs offline; 'st:all-MiniLM-L6-v2' for captions only).")] = None,
    caption_column: Annotated[str | None, typer.Option(
        "--caption-column", help="Caption field/column of a .jsonl/.csv/.json file (default: "
                                 "caption, text or sentence).")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference",
        help="Reference mean (.safetensors from `vslerp means compute`); default: in-set.")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", help="Keep the embedding shards here; rerunning resumes an interrupted "
                           "job (default: a temporary folder).")] = None,
    summary: Annotated[Path | None, typer.Option(
        "--summary", help="Also write n, a, b, pearson, reference, statistics and failed items "
                          "as JSON.")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Images/captions per forward pass.")] = 32,
    device: Annotated[str | None, typer.Option(
        "--device", help="torch device (default: cuda when available, else cpu).")] = None,
) -> None:
    """Exact conformity C(v_j) = mean_k cos(v_j, v_k) of every item, and a·cos(m, v) + b.

    Without --reference each item is scored against the other items of the source; with it,
    against the reference set summarized by the mean file.
    """
    kind, path = _pick_source(images, captions, embeddings)
    check_output_paths(output, summary)
    if caption_column is not None and kind != "captions":
        raise InputError("--caption-column", caption_column, "applies to --captions only")
    if kind == "embeddings" and (encoder is not None or work_dir is not None):
        raise InputError("--encoder/--work-dir", encoder or str(work_dir),
                         "do not apply to --embeddings (they are embedded already)")
    modality = {"images": "image", "captions": "text", "embeddings": "embeddings"}[kind]
    source = open_source(path, modality=modality, caption_column=caption_column)
    enc = None
    if kind == "embeddings":
        assert source.embeddings is not None
        dim, encoder_id = source.embeddings.shape[1], source.encoder_id
    else:
        spec = encoder or DEFAULT_ENCODER
        provides = spec_modalities(spec)
        if provides is not None and modality not in provides:  # refuse before loading it
            raise UnsupportedModalityError(f"encoder '{spec}' cannot embed {modality}s: it "
                                           f"encodes {' and '.join(sorted(provides))} only")
        enc = load_encoder(spec, device=device)
        dim, encoder_id = enc.embed_dim, enc.id
    ref = _load_reference(reference, dim=dim, modality=modality, encoder_id=encoder_id)
    embedded = embed_source(source, enc, work_dir=work_dir, batch_size=batch_size,
                            progress=True)
    _report_failed(embedded)
    name = f"embeddings in {path.name}" if kind == "embeddings" else f"embeddings of {path.name}"
    scores = score_embeddings(embedded.embeddings, ids=embedded.ids,
                              items=None if kind == "embeddings" else embedded.labels,
                              reference=ref, name=name)
    extra: dict[str, Any] = {
        "source": {"kind": kind, "path": str(path), "name": source.name,
                   "items": len(source), "scored": len(embedded),
                   "failed": len(embedded.failed)},
        "encoder": embedded.encoder_id,
        "fingerprint": embedded.fingerprint,
        "failed": [{"id": item_id, "reason": reason} for item_id, reason in embedded.failed],
    }
    if kind == "embeddings":
        extra["embeddings"] = str(path)
    if reference is not None and isinstance(scores.reference, dict):
        extra["reference"] = {"path": str(reference), **scores.reference}
    write_scores(scores, output, summary_path=summary, summary_extra=extra)
    typer.echo(f"wrote {scores.n} rows to {output}" + (f" and {summary}" if summary else ""))
