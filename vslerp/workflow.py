"""From paths to a ranking: the batch flow shared by ``vslerp rank``, ``vslerp geometry`` and the
examples.

:func:`open_sources` opens (and so validates) every path before any model loads;
:func:`embed_sources` loads the encoder once, only when some source needs one, and embeds each
source in its own resumable job folder (:func:`vslerp.jobs.job_folder`); :func:`rank_paths`
does both and ranks the sources against the first (:func:`vslerp.ranking.rank_sources`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from vslerp.encoders import (
    DEFAULT_ENCODER,
    UnsupportedModalityError,
    load_encoder,
    spec_modalities,
)
from vslerp.errors import InputError
from vslerp.jobs import EmbeddedSource, embed_source, job_folder
from vslerp.ranking import (
    DEFAULT_BINS,
    DEFAULT_EXAMPLES,
    DEFAULT_SMOOTHING,
    Ranking,
    check_same_modality,
    rank_sources,
)
from vslerp.sources import Source, open_source, parse_named_path

__all__ = ["embed_sources", "open_sources", "rank_paths"]

SourceSpec = tuple[str, str | None, Path]
"""``(argument, name, path)``: the argument named in errors, the source's name (``None``: named
after its folder or file) and its path."""


def open_sources(specs: Sequence[SourceSpec], *,
                 modality: Literal["auto", "image", "text", "embeddings"] = "auto",
                 caption_column: str | None = None) -> list[Source]:
    """Open (and so validate) every ``(argument, name, path)``; names must be unique.

    Raises:
        InputError: naming the argument and path of a missing or unreadable source or a
            duplicate name.
    """
    sources = []
    seen: dict[str, str] = {}
    for argument, name, path in specs:
        try:
            source = open_source(path, name=name, modality=modality,
                                 caption_column=caption_column)
        except FileNotFoundError as err:
            raise InputError(argument, str(path), "no such file or folder") from err
        if source.name in seen:
            raise InputError(argument, str(path), f"duplicate source name {source.name!r} (also "
                                                  f"{seen[source.name]}); name them with "
                                                  f"NAME=PATH")
        seen[source.name] = f"{argument} {path}"
        sources.append(source)
    return sources


def embed_sources(sources: Sequence[Source], *, encoder: str = DEFAULT_ENCODER,
                  work_dir: str | os.PathLike[str], batch_size: int = 32,
                  runner: Literal["local", "ray"] = "local", device: str | None = None,
                  progress: bool = True) -> list[EmbeddedSource]:
    """Embed every source with :func:`vslerp.jobs.embed_source`, each in its own job folder
    under ``work_dir`` (re-running resumes). The encoder (a spec for
    :func:`vslerp.encoders.load_encoder`) is loaded once, and only when a source needs it:
    embedding files pass through.

    Raises:
        UnsupportedModalityError: the encoder lacks a tower some source needs (checked from the
            spec before loading when possible).
    """
    needed = {s.modality for s in sources} - {"embeddings"}
    provides = spec_modalities(encoder)
    if provides is not None and not needed <= provides:  # refuse before loading it
        raise UnsupportedModalityError(
            f"encoder '{encoder}' cannot embed {' and '.join(sorted(needed - provides))}s: "
            f"it encodes {' and '.join(sorted(provides))} only")
    loaded = load_encoder(encoder, device=device) if needed else None
    root = Path(work_dir)
    return [embed_source(s, loaded, work_dir=job_folder(root, s.name), batch_size=batch_size,
                         runner=runner, progress=progress) for s in sources]


def rank_paths(reference: str, sources: Sequence[str], *, encoder: str = DEFAULT_ENCODER,
               work_dir: str | os.PathLike[str],
               modality: Literal["auto", "image", "text", "embeddings"] = "auto",
               caption_column: str | None = None, batch_size: int = 32,
               runner: Literal["local", "ray"] = "local", device: str | None = None,
               bins: int = DEFAULT_BINS, smoothing: float = DEFAULT_SMOOTHING,
               examples: int = DEFAULT_EXAMPLES, progress: bool = True) -> Ranking:
    """Rank ``sources`` against ``reference``, given as ``NAME=PATH`` or ``PATH`` strings.

    Every path is opened and checked (one modality for all) before the encoder loads; then each
    source is embedded (resumable, under ``work_dir``) and ranked by
    :func:`vslerp.ranking.rank_sources`. Write the report with
    :func:`vslerp.report.write_ranking_report`.

    Raises:
        InputError: naming ``--reference``/``--source`` and the value: no sources, a bad path, a
            duplicate name, or a modality other than the reference's.
    """
    if isinstance(sources, str) or not sources:
        raise InputError("--source", sources, "give at least one source to rank")
    specs: list[SourceSpec] = [("--reference", *parse_named_path(reference, "--reference"))]
    specs += [("--source", *parse_named_path(s, "--source")) for s in sources]
    opened = open_sources(specs, modality=modality, caption_column=caption_column)
    for (argument, _, _), src in zip(specs[1:], opened[1:], strict=True):
        check_same_modality(opened[0].name, opened[0].modality, src.name, src.modality, argument)
    embedded = embed_sources(opened, encoder=encoder, work_dir=work_dir, batch_size=batch_size,
                             runner=runner, device=device, progress=progress)
    return rank_sources(embedded[0], embedded[1:], bins=bins, smoothing=smoothing,
                        examples=examples)
