"""Uploads → inputs vslerp can read, safely.

Gradio hands the app the paths of uploaded files in its own upload cache (it refuses paths
outside it); the file keeps the name the user gave it as its last path component, which is what
every message here calls it. Nothing a user typed or named is ever used as a path on the server:

* single images are read with :func:`vslerp.imaging.load_image` (header-checked pixel cap,
  truncation and format checks); a failure is an :class:`UploadError` naming the file;
* sets of images (several files and/or ``.zip`` archives of images) are copied into a folder the
  app creates, under generated names (``00001.png``, ...), so that
  :func:`vslerp.sources.open_source` and :func:`vslerp.jobs.embed_source` can read them; the
  name each file had is kept in :attr:`StagedSet.labels` for tables and reports;
* captions (pasted text or ``.txt`` files, one caption per line; blank lines are ignored) are
  written to a generated ``captions.txt``.

Archives are read member by member with limits on the number of images and on the bytes
actually extracted (a zip bomb stops at the limit, whatever its headers claim); hidden files,
folders and ``__MACOSX`` entries are skipped, other non-image members are skipped and listed in
:attr:`StagedSet.notes`.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from PIL import Image

from vslerp.errors import VslerpError
from vslerp.fileio import atomic_write, write_text_atomic
from vslerp.imaging import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageLoadError, load_image

__all__ = [
    "CAPTION_SUFFIX",
    "MAX_CAPTIONS",
    "MAX_EXTRACTED_BYTES",
    "MAX_SET_IMAGES",
    "StagedSet",
    "UploadError",
    "load_upload_image",
    "stage_captions",
    "stage_files",
    "upload_name",
]

#: Most images one set (files plus archive members) may hold.
MAX_SET_IMAGES = 5000
#: Most bytes extracted from one archive.
MAX_EXTRACTED_BYTES = 1 << 30
#: Most captions one set may hold.
MAX_CAPTIONS = 100_000
#: Most characters of caption text one set may hold.
MAX_CAPTION_CHARS = 20_000_000
CAPTION_SUFFIX = ".txt"
_CHUNK = 1 << 20
_IMAGE_KINDS = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES)


class UploadError(VslerpError):
    """An upload cannot be used; the message says which one (by the name the user gave it)
    and why."""


def upload_name(path: str | Path) -> str:
    """The name the user gave an uploaded file (the last component of its upload path)."""
    return Path(str(path)).name


def load_upload_image(path: str | Path, *, what: str,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load one uploaded image as RGB (:func:`vslerp.imaging.load_image`).

    Args:
        path: the upload's path, as Gradio gives it.
        what: what the image is for, e.g. ``"Image A"``, used in messages.
        max_pixels: refuse images with more pixels (checked from the header).

    Raises:
        UploadError: not an image, truncated, too many pixels, ...; names the file.
    """
    try:
        return load_image(path, max_pixels=max_pixels, name=what)
    except ImageLoadError as err:
        raise UploadError(f"{what}: cannot use '{upload_name(path)}': {err.problem}") from err


@dataclass
class StagedSet:
    """A set of uploads copied to where vslerp's sources read them.

    Attributes:
        modality: ``"image"`` (``path`` is a folder) or ``"text"`` (``path`` is a caption file).
        path: the folder of images or the ``captions.txt`` file.
        labels: for images, generated file name → the name the user knows (``cat.png``, or
            ``outputs.zip/cats/1.png`` for an archive member).
        count: images or captions staged.
        notes: what was skipped, one line each.
    """

    modality: Literal["image", "text"]
    path: Path
    labels: dict[str, str] = field(default_factory=dict)
    count: int = 0
    notes: list[str] = field(default_factory=list)


def _copy_limited(src: IO[bytes], target: Path, limit: int, what: str) -> int:
    """Copy ``src`` into ``target`` (atomically); stop with an error past ``limit`` bytes."""
    copied = 0
    with atomic_write(target, "wb") as dst:
        while chunk := src.read(_CHUNK):
            copied += len(chunk)
            if copied > limit:
                raise UploadError(f"{what} expands to more than {limit >> 20} MiB; split it "
                                  f"into smaller archives")
            dst.write(chunk)
    return copied


def _skip_member(inner: PurePosixPath) -> bool:
    """Folders' metadata that archivers add: hidden files and ``__MACOSX``."""
    return any(part.startswith(".") or part == "__MACOSX" for part in inner.parts)


class _ImageStager:
    """Copies images into ``folder`` under generated names, counting against the limit."""

    def __init__(self, folder: Path, what: str, max_images: int) -> None:
        self.folder = folder
        self.what = what
        self.max_images = max_images
        self.labels: dict[str, str] = {}
        self.notes: list[str] = []

    def _target(self, suffix: str) -> Path:
        if len(self.labels) >= self.max_images:
            raise UploadError(f"{self.what}: more than {self.max_images} images; use a smaller "
                              f"sample (or the command line, vslerp rank / vslerp conformity)")
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{len(self.labels) + 1:05d}{suffix.lower()}"

    def add_file(self, path: Path) -> None:
        target = self._target(path.suffix)
        with path.open("rb") as src:
            _copy_limited(src, target, MAX_EXTRACTED_BYTES, f"{self.what}: '{path.name}'")
        self.labels[target.name] = upload_name(path)

    def add_archive(self, path: Path) -> None:
        name = upload_name(path)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise UploadError(f"{self.what}: '{name}' is not a readable .zip archive "
                              f"({err})") from err
        budget = MAX_EXTRACTED_BYTES
        skipped: list[str] = []
        found = 0
        with archive:
            for member in archive.infolist():
                inner = PurePosixPath(member.filename)
                if member.is_dir() or _skip_member(inner):
                    continue
                if inner.suffix.lower() not in IMAGE_SUFFIXES:
                    skipped.append(inner.name)
                    continue
                if member.flag_bits & 0x1:
                    raise UploadError(f"{self.what}: '{name}' is encrypted; upload an archive "
                                      f"without a password")
                target = self._target(inner.suffix)
                try:
                    with archive.open(member) as src:
                        budget -= _copy_limited(src, target, budget, f"{self.what}: '{name}'")
                except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                        OSError, EOFError) as err:
                    raise UploadError(f"{self.what}: '{name}' is damaged or unsupported at "
                                      f"'{inner}' ({err})") from err
                self.labels[target.name] = f"{name}/{inner}"
                found += 1
        if found == 0:
            raise UploadError(f"{self.what}: '{name}' holds no images ({_IMAGE_KINDS})")
        if skipped:
            shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
            self.notes.append(f"skipped {len(skipped)} non-image file(s) in '{name}': {shown}")


def _read_captions(path: Path, what: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise UploadError(f"{what}: '{upload_name(path)}' is not UTF-8 text ({err.reason} at "
                          f"byte {err.start})") from err
    except OSError as err:
        raise UploadError(f"{what}: cannot read '{upload_name(path)}' ({err})") from err
    return text.splitlines()


def _write_captions(lines: Sequence[str], folder: Path, what: str) -> StagedSet:
    captions = [line.strip() for line in lines if line.strip()]
    if not captions:
        raise UploadError(f"{what}: no captions (one per line; blank lines are ignored)")
    if len(captions) > MAX_CAPTIONS:
        raise UploadError(f"{what}: {len(captions)} captions; at most {MAX_CAPTIONS} here")
    if sum(len(c) for c in captions) > MAX_CAPTION_CHARS:
        raise UploadError(f"{what}: more than {MAX_CAPTION_CHARS} characters of captions")
    folder.mkdir(parents=True, exist_ok=True)
    path = write_text_atomic(folder / "captions.txt", "\n".join(captions) + "\n")
    return StagedSet(modality="text", path=path, count=len(captions))


def stage_captions(text: str | None, folder: Path, *, what: str) -> StagedSet:
    """Pasted captions, one per line (blank lines ignored), written to
    ``folder/captions.txt``.

    Raises:
        UploadError: no captions, or too many.
    """
    if text is not None and not isinstance(text, str):
        raise UploadError(f"{what}: expected text, one caption per line")
    return _write_captions((text or "").splitlines(), folder, what)


def stage_files(files: Sequence[str | Path] | None, folder: Path, *, what: str,
                max_images: int = MAX_SET_IMAGES) -> StagedSet:
    """Uploaded files of one set → a folder of images or a caption file under ``folder``.

    Args:
        files: upload paths: images, ``.zip`` archives of images, or ``.txt`` caption files
            (one caption per line); a set holds images or captions, not both.
        folder: where to stage (created; the app's own output folder).
        what: the set's name in messages, e.g. ``"Reference set 'real'"``.
        max_images: most images the set may hold.

    Raises:
        UploadError: no files, an unknown kind of file, images mixed with captions, a bad
            archive, too many images; the message names the file.
    """
    if isinstance(files, (str, Path)):
        files = [files]
    paths = [Path(str(f)) for f in files or [] if f]
    if not paths:
        raise UploadError(f"{what}: no files uploaded")
    images = _ImageStager(folder / "images", what, max_images)
    captions: list[str] = []
    caption_files: list[str] = []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            images.add_file(path)
        elif suffix == ".zip":
            images.add_archive(path)
        elif suffix == CAPTION_SUFFIX:
            captions += _read_captions(path, what)
            caption_files.append(upload_name(path))
        else:
            raise UploadError(f"{what}: cannot use '{upload_name(path)}': expected images "
                              f"({_IMAGE_KINDS}), .zip archives of images or {CAPTION_SUFFIX} "
                              f"caption files")
    if images.labels and caption_files:
        raise UploadError(f"{what}: mixes images with caption files "
                          f"({', '.join(caption_files)}); a set holds one or the other")
    if caption_files:
        return _write_captions(captions, folder, what)
    return StagedSet(modality="image", path=images.folder, labels=images.labels,
                     count=len(images.labels), notes=images.notes)

