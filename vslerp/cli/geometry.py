"""``vslerp geometry``: the paper's geometric analyses of an encoder on your images and captions.

Images (a folder, or an embeddings file) and captions (a caption file, or an embeddings file)
are embedded with the encoder (resumably, as in ``vslerp rank``), analysed with
:func:`vslerp.geometry.analyze` on the raw embeddings and written by
:func:`vslerp.report.write_geometry_report`.

Pairs (``--pairs``): item ``k`` of the images pairs with item ``k`` of the captions, in each
source's own order: images sorted by their path relative to the folder, captions in file order
(``.txt`` lines, ``.jsonl`` records, ``.csv`` rows, COCO ``annotations``), embedding files by
row. Both sources must hold the same number of items; a pair is dropped when either side
failed to embed. For MS-COCO, write one caption per image in the images' sorted order (e.g.
``000000000139.jpg`` ↔ line 1 of a ``.txt``), or pass two row-aligned embedding files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from vslerp.cli.app import app
from vslerp.cli.rank import RUNNER_CHOICES, check_choice, check_out_dir
from vslerp.encoders import DEFAULT_ENCODER
from vslerp.errors import InputError
from vslerp.geometry import analyze
from vslerp.jobs import EmbeddedSource
from vslerp.report import write_geometry_report
from vslerp.sources import Source
from vslerp.workflow import embed_sources, open_sources


def check_pair_counts(images: Source, texts: Source) -> None:
    """Row-aligned pairs need as many images as captions (checked before embedding)."""
    if len(images.items) != len(texts.items):
        raise InputError("--pairs", True,
                         f"pairs match item k of the images with item k of the captions, but "
                         f"there are {len(images.items)} images and {len(texts.items)} captions")


def paired_rows(images: Source, texts: Source, embedded_images: EmbeddedSource,
                embedded_texts: EmbeddedSource) -> np.ndarray:
    """``(P, 2)`` int64 (image row, caption row) of the item pairs both of whose sides were
    embedded; item ``k`` of ``images`` pairs with item ``k`` of ``texts``."""
    check_pair_counts(images, texts)
    image_row = {item_id: row for row, item_id in enumerate(embedded_images.ids)}
    text_row = {item_id: row for row, item_id in enumerate(embedded_texts.ids)}
    pairs = [(image_row[a.id], text_row[b.id])
             for a, b in zip(images.items, texts.items, strict=True)
             if a.id in image_row and b.id in text_row]
    if len(pairs) < 2:
        raise InputError("--pairs", True, f"only {len(pairs)} pair(s) have both sides embedded; "
                                          f"the contrastive loss needs at least 2")
    return np.asarray(pairs, dtype=np.int64)


@app.command("geometry")
def geometry_command(
    images: Annotated[Path, typer.Option(
        "--images", "-i", help="Image folder, or an embeddings file of raw image embeddings.")],
    captions: Annotated[Path, typer.Option(
        "--captions", "-c", help="Caption file (.txt/.jsonl/.csv/COCO .json), or an embeddings "
                                 "file of raw text embeddings.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Report folder (report.html, geometry.json, PNG figures).")],
    pairs: Annotated[bool, typer.Option(
        "--pairs", help="Item k of the images is the image of caption k (sorted image paths, "
                        "caption file order); adds the contrastive-loss analysis.")] = False,
    encoder: Annotated[str, typer.Option(
        "--encoder", "-e", help="Encoder spec with image and text towers (openclip:..., hf:..., "
                                "tiny).")] = DEFAULT_ENCODER,
    caption_column: Annotated[str | None, typer.Option(
        help="Caption field/column in .jsonl/.csv/COCO files.")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="Where embedding jobs keep their shards (default: OUTPUT/.work).")] = None,
    batch_size: Annotated[int, typer.Option(help="Items per forward pass.")] = 32,
    runner: Annotated[str, typer.Option(help="local or ray (Ray Data).")] = "local",
    device: Annotated[str | None, typer.Option(help="Torch device for the encoder.")] = None,
) -> None:
    """The paper's geometric analyses of raw CLIP embeddings of your images and captions.

    Thin shells, ellipsoids, per-feature separability, conformity vs the modality mean, and the
    contrastive loss (with --pairs) and conformity KL against the mean shift v -> v - alpha*m
    (Levi & Gilboa, "The Double-Ellipsoid Geometry of CLIP").
    """
    check_choice(runner, RUNNER_CHOICES, "--runner")
    out = check_out_dir(output.expanduser())
    image_source, text_source = open_sources(
        [("--images", "images", images), ("--captions", "captions", captions)],
        modality="auto", caption_column=caption_column)
    if image_source.modality == "text":
        raise InputError("--images", str(images), "is a caption file; expected an image folder "
                                                  "or an embeddings file")
    if text_source.modality == "image":
        raise InputError("--captions", str(captions), "is an image folder; expected a caption "
                                                      "file or an embeddings file")
    if pairs:
        check_pair_counts(image_source, text_source)
    embedded_images, embedded_texts = embed_sources(
        [image_source, text_source], encoder=encoder,
        work_dir=(work_dir or out / ".work").expanduser(), batch_size=batch_size, runner=runner,
        device=device)
    ids = {e.encoder_id for e in (embedded_images, embedded_texts)} - {None}
    if len(ids) > 1:
        raise InputError("--captions", str(captions),
                         f"images and captions were embedded with different encoders "
                         f"({', '.join(sorted(ids))}); the analyses need one CLIP space")
    for option, path, emb in (("--images", images, embedded_images),
                              ("--captions", captions, embedded_texts)):
        if emb.embeddings.shape[0] < 3:
            raise InputError(option, str(path),
                             f"only {emb.embeddings.shape[0]} item(s) embedded ({len(emb.failed)} "
                             f"failed); the analyses need at least 3")
    pair_rows = (paired_rows(image_source, text_source, embedded_images, embedded_texts)
                 if pairs else None)
    report = analyze(embedded_images.embeddings, embedded_texts.embeddings, pair_rows)
    info = {"encoder": next(iter(ids), "unknown"), "image source": str(images),
            "caption source": str(captions)}
    failed = len(embedded_images.failed) + len(embedded_texts.failed)
    if failed:
        info["failed items"] = str(failed)
    paths = write_geometry_report(report, out, images=embedded_images.embeddings,
                                  texts=embedded_texts.embeddings, info=info)
    sep, gap = report.separability, report.modality_gap
    typer.echo(f"{report.n_images} images, {report.n_texts} captions, D = {report.dim}"
               + (f", {failed} failed" if failed else ""))
    typer.echo(f"modality gap {gap.gap:.4f}; two-feature held-out accuracy "
               f"{sep.pair_heldout_accuracy:.3f}; conformity Pearson r images "
               f"{report.images.conformity.pearson:.4f}, texts "
               f"{report.texts.conformity.pearson:.4f}")
    typer.echo(f"report: {paths['html']}")
    typer.echo(f"        {paths['json']}")
