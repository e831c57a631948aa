"""Sharded, resumable embedding jobs: a :class:`~vslerp.sources.Source` -> an
:class:`EmbeddedSource`.

Layout of a job's ``work_dir``::

    manifest.json        fingerprint, configuration, finished shards (written atomically)
    shard-000000.npz     rows 0 .. shard_size-1 of the source
    shard-000001.npz     ...

Items are split into shards of ``shard_size`` in the source's (deterministic) order. Each shard
file is written to a temporary name and renamed into place (:mod:`vslerp.fileio`), so a killed
job leaves only whole shards. A shard ``.npz`` (read with ``allow_pickle=False``) holds
``embeddings`` (``(n_ok, D)`` float32) and ``meta``: UTF-8 JSON as a uint8 array with the job
fingerprint, the shard's item ids in order, the ids that were embedded and the ``(id, reason)``
pairs that failed (unreadable, truncated or oversized images; empty captions).

The fingerprint is the SHA-256 of the configuration: encoder id, preprocessing, dtype and
weights digest, vslerp version, the source's listing/content digest, modality and shard size.
Running the same job again resumes: shards whose file holds the same fingerprint and item ids
are kept, the others are computed, and the result is bitwise identical to an uninterrupted run.
A different fingerprint (another encoder, changed preprocessing, edited source) makes every old
shard invalid: they are deleted and recomputed, never mixed. The batch size is not part of the
fingerprint (it changes results only at float32 rounding level).

Runners: ``"local"`` computes shards in this process; ``"ray"`` maps them over Ray Data actors
(``ray.data.from_items(...).map_batches(...)``), each building the encoder once from its spec
(:func:`vslerp.encoders.load_encoder`) and writing its shards to ``work_dir`` (which must be on a
file system every worker sees). Ray is imported only then.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from vslerp import __version__
from vslerp.encoders.base import Encoder, UnsupportedModalityError, check_batch_size
from vslerp.errors import InputError, VslerpError
from vslerp.fileio import write_bytes_atomic, write_json_atomic
from vslerp.imaging import ImageLoadError, load_image
from vslerp.sources import Source, SourceItem

__all__ = [
    "JOB_FORMAT",
    "EmbeddedSource",
    "embed_source",
    "job_config",
    "job_fingerprint",
    "job_folder",
]

JOB_FORMAT = "vslerp-embed-job/1"
MANIFEST = "manifest.json"
_SHARD_PREFIX = "shard-"
_RUNNERS = ("local", "ray")


@dataclass
class EmbeddedSource:
    """A source's embeddings, rows aligned with ``ids``; every item is in ``ids`` or
    ``failed``, exactly once.

    Attributes:
        name: the source's display name.
        modality: ``"image"``, ``"text"`` or ``"embeddings"``.
        ids: ids of the embedded items, in source order.
        labels: their labels (file names, captions).
        paths: their image files (for thumbnails), ``None`` for non-image sources.
        embeddings: ``(N, D)`` float32 raw embeddings, row ``i`` for ``ids[i]`` (``N`` may be 0
            when every item failed).
        failed: ``(id, reason)`` for items that could not be embedded, in source order.
        encoder_id: the encoder's id (for embeddings files: as recorded in the file, or None).
        fingerprint: the job fingerprint (for embeddings files: the source digest).
    """

    name: str
    modality: str
    ids: list[str]
    labels: list[str]
    paths: list[Path] | None
    embeddings: np.ndarray
    failed: list[tuple[str, str]] = field(default_factory=list)
    encoder_id: str | None = None
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.ids)


# --------------------------------------------------------------------------------------------
# Fingerprint


def job_config(source: Source, encoder: Encoder, shard_size: int) -> dict[str, Any]:
    """The JSON configuration whose hash is the job fingerprint (see the module docstring)."""
    return {
        "format": JOB_FORMAT,
        "vslerp_version": __version__,
        "encoder_id": encoder.id,
        "preprocessing": encoder.preprocessing,
        "dtype": str(encoder.dtype).removeprefix("torch."),
        "weights_digest": encoder.weights_digest(),
        "modality": source.modality,
        "source_digest": source.digest(),
        "n_items": len(source),
        "shard_size": shard_size,
    }


def job_fingerprint(config: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``config`` as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# One shard


@dataclass
class _ShardResult:
    ids: list[str]
    embeddings: np.ndarray
    failed: list[tuple[str, str]]


def _embed_items(encoder: Encoder, modality: str, items: list[SourceItem],
                 batch_size: int) -> _ShardResult:
    """Embed one shard's items in batches of ``batch_size`` items; failures recorded."""
    ids: list[str] = []
    failed: list[tuple[str, str]] = []
    blocks: list[np.ndarray] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        ok: list[SourceItem] = []
        inputs: list[Any] = []
        for item in chunk:
            if item.problem is not None:
                failed.append((item.id, item.problem))
                continue
            if modality == "image":
                assert item.path is not None
                try:
                    inputs.append(load_image(item.path))
                except ImageLoadError as err:
                    failed.append((item.id, err.problem))
                    continue
            else:
                inputs.append(item.text)
            ok.append(item)
        if not ok:
            continue
        if modality == "image":
            block = encoder.encode_images(inputs, batch_size=len(inputs))
        else:
            block = encoder.encode_texts(inputs, batch_size=len(inputs))
        blocks.append(block)
        ids.extend(item.id for item in ok)
    embeddings = (np.concatenate(blocks) if blocks
                  else np.zeros((0, encoder.embed_dim), dtype=np.float32))
    return _ShardResult(ids, embeddings.astype(np.float32, copy=False), failed)


def _shard_path(work_dir: Path, index: int) -> Path:
    return work_dir / f"{_SHARD_PREFIX}{index:06d}.npz"


def _write_shard(path: Path, fingerprint: str, index: int, item_ids: list[str],
                 result: _ShardResult) -> None:
    meta = {"fingerprint": fingerprint, "shard": index, "items": item_ids, "ids": result.ids,
            "failed": [list(pair) for pair in result.failed]}
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=np.ascontiguousarray(result.embeddings, dtype=np.float32),
             meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8))
    write_bytes_atomic(path, buffer.getvalue())


def _read_shard(path: Path, fingerprint: str, item_ids: list[str],
                embed_dim: int) -> _ShardResult | None:
    """The shard at ``path`` if it is whole and belongs to this job, else ``None``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            embeddings = z["embeddings"]
    except Exception:  # missing, truncated, foreign or corrupt: recompute
        return None
    if not isinstance(meta, dict) or meta.get("fingerprint") != fingerprint \
            or meta.get("items") != item_ids:
        return None
    ids = meta.get("ids")
    failed = [tuple(pair) for pair in meta.get("failed", [])]
    if not isinstance(ids, list) or embeddings.dtype != np.float32 \
            or embeddings.shape != (len(ids), embed_dim):
        return None
    accounted = list(ids) + [pair[0] for pair in failed]
    if sorted(accounted) != sorted(item_ids):
        return None
    return _ShardResult([str(i) for i in ids], embeddings,
                        [(str(a), str(b)) for a, b in failed])


# --------------------------------------------------------------------------------------------
# Work directory


@contextlib.contextmanager
def _locked(work_dir: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``work_dir`` (POSIX); a second job on the same
    folder fails at once instead of interleaving shards."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(work_dir / ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError as err:
            raise InputError("work_dir", str(work_dir),
                             "another embedding job is using this folder") from err
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            locked = False
        try:
            yield
        finally:
            if locked:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _reset_if_foreign(work_dir: Path, fingerprint: str) -> None:
    """Remove leftover temporary files; when the manifest belongs to another configuration,
    remove its shards too (they are never mixed with this job's)."""
    for stale in work_dir.glob(f".{_SHARD_PREFIX}*.tmp"):
        stale.unlink(missing_ok=True)
    for stale in work_dir.glob(f".{MANIFEST}.*.tmp"):
        stale.unlink(missing_ok=True)
    manifest = work_dir / MANIFEST
    previous = None
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(manifest.read_text(encoding="utf-8")).get("fingerprint")
    if previous != fingerprint:
        for shard in work_dir.glob(f"{_SHARD_PREFIX}*.npz"):
            shard.unlink(missing_ok=True)


def _write_manifest(work_dir: Path, fingerprint: str, config: dict[str, Any], source: Source,
                    n_shards: int, finished: set[int]) -> None:
    write_json_atomic(work_dir / MANIFEST, {
        "format": JOB_FORMAT,
        "fingerprint": fingerprint,
        "config": config,
        "source": {"name": source.name, "location": str(source.location),
                   "modality": source.modality, "n_items": len(source)},
        "n_shards": n_shards,
        "finished": sorted(finished),
        "complete": len(finished) == n_shards,
    })


# --------------------------------------------------------------------------------------------
# Runners


def _run_local(encoder: Encoder, modality: str, shards: dict[int, list[SourceItem]],
               batch_size: int, work_dir: Path, fingerprint: str,
               on_done: Callable[[int], None]) -> None:
    for index, items in shards.items():
        result = _embed_items(encoder, modality, items, batch_size)
        _write_shard(_shard_path(work_dir, index), fingerprint, index,
                     [item.id for item in items], result)
        on_done(index)


def _item_payload(item: SourceItem) -> dict[str, Any]:
    return {"id": item.id, "label": item.label,
            "path": None if item.path is None else str(item.path),
            "text": item.text, "problem": item.problem}


class _RayShardWorker:
    """A Ray Data actor: builds the encoder once from its spec, then embeds and writes the
    shards it is given (one row per shard)."""

    def __init__(self, spec: str, load_options: dict[str, Any], expected: dict[str, Any],
                 modality: str, batch_size: int, work_dir: str, fingerprint: str) -> None:
        from vslerp.encoders import load_encoder

        self.encoder = load_encoder(spec, **load_options)
        found = {"preprocessing": self.encoder.preprocessing,
                 "weights_digest": self.encoder.weights_digest()}
        if found != expected:
            raise VslerpError(f"encoder '{spec}' built in a Ray worker differs from the driver's "
                              f"(preprocessing or weights); results would be mixed")
        self.modality = modality
        self.batch_size = batch_size
        self.work_dir = Path(work_dir)
        self.fingerprint = fingerprint

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[int]]:
        done = []
        for index, payload in zip(batch["shard"], batch["items"], strict=True):
            items = [SourceItem(id=d["id"], label=d["label"],
                                path=None if d["path"] is None else Path(d["path"]),
                                text=d["text"], problem=d["problem"])
                     for d in json.loads(str(payload))]
            result = _embed_items(self.encoder, self.modality, items, self.batch_size)
            _write_shard(_shard_path(self.work_dir, int(index)), self.fingerprint, int(index),
                         [item.id for item in items], result)
            done.append(int(index))
        return {"shard": done}


def _run_ray(encoder: Encoder, modality: str, shards: dict[int, list[SourceItem]],
             batch_size: int, work_dir: Path, fingerprint: str,
             on_done: Callable[[int], None], ray_options: dict[str, Any] | None) -> None:
    try:
        import ray.data
    except ImportError as err:
        raise VslerpError("runner='ray' needs Ray Data: pip install 'ray[data]>=2.30' "
                          "(or pip install 'vslerp[ray]')") from err
    load_options = getattr(encoder, "load_options", None)
    if load_options is None:
        raise InputError("encoder", encoder.id,
                         "the ray runner rebuilds the encoder in each worker from its spec; "
                         "load it with vslerp.encoders.load_encoder(spec)")
    options: dict[str, Any] = {"concurrency": 1, **(ray_options or {})}
    rows = [{"shard": index, "items": json.dumps([_item_payload(i) for i in items],
                                                 ensure_ascii=False)}
            for index, items in shards.items()]
    expected = {"preprocessing": encoder.preprocessing,
                "weights_digest": encoder.weights_digest()}
    dataset = ray.data.from_items(rows).map_batches(
        _RayShardWorker,
        fn_constructor_kwargs={"spec": encoder.id, "load_options": load_options,
                               "expected": expected, "modality": modality,
                               "batch_size": batch_size, "work_dir": str(work_dir),
                               "fingerprint": fingerprint},
        batch_size=1,
        batch_format="numpy",
        **options,
    )
    for row in dataset.iter_rows():
        on_done(int(row["shard"]))


# --------------------------------------------------------------------------------------------
# Public API


def _passthrough(source: Source) -> EmbeddedSource:
    assert source.embeddings is not None
    return EmbeddedSource(
        name=source.name, modality=source.modality, ids=[i.id for i in source.items],
        labels=[i.label for i in source.items], paths=None,
        embeddings=source.embeddings.astype(np.float32, copy=False), failed=[],
        encoder_id=source.encoder_id, fingerprint=source.digest(),
    )


def embed_source(
    source: Source,
    encoder: Encoder | None,
    *,
    work_dir: str | os.PathLike[str] | None,
    shard_size: int = 256,
    batch_size: int = 32,
    runner: Literal["local", "ray"] = "local",
    progress: bool = True,
    ray_options: dict[str, Any] | None = None,
) -> EmbeddedSource:
    """Embed every item of ``source`` with ``encoder``, resumably (see the module docstring).

    Args:
        source: from :func:`vslerp.sources.open_source`. Embeddings sources pass through
            (no encoder needed, nothing written).
        encoder: an :class:`~vslerp.encoders.Encoder` with a tower for the source's modality.
        work_dir: folder for the manifest and shards; rerunning with the same folder resumes.
            ``None``: a temporary folder, removed afterwards (no resume).
        shard_size: items per shard (the unit of resumption).
        batch_size: items per forward pass.
        runner: ``"local"`` (this process) or ``"ray"`` (Ray Data actors; needs ``ray[data]``
            and an encoder made by :func:`~vslerp.encoders.load_encoder`).
        progress: show a progress bar over items.
        ray_options: extra ``map_batches`` arguments for the ray runner (default
            ``{"concurrency": 1}``; e.g. ``{"concurrency": 4, "num_gpus": 1}``).

    Returns:
        :class:`EmbeddedSource`: embedded rows in source order, failures with reasons.

    Raises:
        InputError: bad arguments, or ``work_dir`` in use by another job.
        UnsupportedModalityError: the encoder cannot embed the source's modality.
    """
    if not isinstance(source, Source):
        raise InputError("source", source, "expected a Source (vslerp.sources.open_source)")
    shard_size = check_batch_size(shard_size, "shard_size")
    batch_size = check_batch_size(batch_size, "batch_size")
    if runner not in _RUNNERS:
        raise InputError("runner", runner, f"expected one of {', '.join(_RUNNERS)}")
    if ray_options is not None and not isinstance(ray_options, dict):
        raise InputError("ray_options", ray_options, "expected a dict or None")
    if source.modality == "embeddings":
        return _passthrough(source)
    if not isinstance(encoder, Encoder):
        raise InputError("encoder", encoder, "expected an Encoder (vslerp.encoders.load_encoder)")
    if source.modality not in encoder.modalities:
        raise UnsupportedModalityError(
            f"encoder '{encoder.id}' cannot embed {source.modality} source '{source.name}': it "
            f"encodes {' and '.join(sorted(encoder.modalities))} only")
    if work_dir is not None and not isinstance(work_dir, (str, os.PathLike)):
        raise InputError("work_dir", work_dir, "expected a folder path or None")
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="vslerp-embed-") as tmp:
            return _embed(source, encoder, Path(tmp), shard_size, batch_size, runner,
                          progress, ray_options)
    folder = Path(work_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError("work_dir", str(folder), "is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return _embed(source, encoder, folder, shard_size, batch_size, runner, progress,
                  ray_options)


def _embed(source: Source, encoder: Encoder, work_dir: Path, shard_size: int, batch_size: int,
           runner: str, progress: bool, ray_options: dict[str, Any] | None) -> EmbeddedSource:
    config = job_config(source, encoder, shard_size)
    fingerprint = job_fingerprint(config)
    items = source.items
    all_shards = {k: items[start:start + shard_size]
                  for k, start in enumerate(range(0, len(items), shard_size))}
    with _locked(work_dir):
        _reset_if_foreign(work_dir, fingerprint)
        results: dict[int, _ShardResult] = {}
        for index, shard_items in all_shards.items():
            found = _read_shard(_shard_path(work_dir, index), fingerprint,
                                [i.id for i in shard_items], encoder.embed_dim)
            if found is not None:
                results[index] = found
        finished = set(results)
        _write_manifest(work_dir, fingerprint, config, source, len(all_shards), finished)
        todo = {k: v for k, v in all_shards.items() if k not in finished}
        done_items = sum(len(all_shards[k]) for k in finished)
        with tqdm(total=len(items), initial=done_items, unit="item", disable=not progress,
                  desc=f"embedding {source.name}") as bar:

            def on_done(index: int) -> None:
                finished.add(index)
                _write_manifest(work_dir, fingerprint, config, source, len(all_shards),
                                finished)
                bar.update(len(all_shards[index]))

            if todo and runner == "local":
                _run_local(encoder, source.modality, todo, batch_size, work_dir, fingerprint,
                           on_done)
            elif todo:
                _run_ray(encoder, source.modality, todo, batch_size, work_dir, fingerprint,
                         on_done, ray_options)
        for index in todo:
            found = _read_shard(_shard_path(work_dir, index), fingerprint,
                                [i.id for i in all_shards[index]], encoder.embed_dim)
            if found is None:
                raise VslerpError(f"shard {index} of job in {work_dir} is missing or invalid "
                                  f"after it was computed")
            results[index] = found
    return _assemble(source, encoder, fingerprint, [results[k] for k in sorted(results)])


def _assemble(source: Source, encoder: Encoder, fingerprint: str,
              parts: list[_ShardResult]) -> EmbeddedSource:
    by_id = {item.id: item for item in source.items}
    ids = [i for part in parts for i in part.ids]
    failed = [pair for part in parts for pair in part.failed]
    accounted = ids + [pair[0] for pair in failed]
    if len(accounted) != len(by_id) or set(accounted) != set(by_id):
        raise VslerpError(f"job for '{source.name}' accounted for {len(accounted)} of "
                          f"{len(by_id)} items; rerun it with a fresh work_dir")
    embeddings = (np.concatenate([part.embeddings for part in parts]) if parts
                  else np.zeros((0, encoder.embed_dim), np.float32))
    return EmbeddedSource(
        name=source.name,
        modality=source.modality,
        ids=ids,
        labels=[by_id[i].label for i in ids],
        paths=[Path(str(by_id[i].path)) for i in ids] if source.modality == "image" else None,
        embeddings=embeddings,
        failed=failed,
        encoder_id=encoder.id,
        fingerprint=fingerprint,
    )


def job_folder(work_dir: Path, name: str) -> Path:
    """The resumable job folder of source ``name``: a readable slug plus a hash of the name, so
    that the folder does not depend on the order of the sources on the command line."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:40] or "source"
    return work_dir / f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
