"""Sources of things to score: image folders, caption files and embedding files.

:func:`open_source` lists a source's items without encoding anything; :mod:`vslerp.jobs` turns
a :class:`Source` into embeddings. Every item has a stable ``id`` and a human ``label``:

=====================  ============================================  ===========================
source                 ``id``                                        ``label``
=====================  ============================================  ===========================
image folder           path relative to the folder (POSIX ``/``)     file name
``.txt`` captions      line number (1-based)                         caption
``.jsonl`` captions    the record's ``id`` field, else line number   caption
``.csv`` captions      the ``id`` column, else data-row number       caption
MS-COCO ``.json``      annotation id (``annotations[].id``)           caption
embeddings file        ``ids`` stored in the file, else row (0-based) the id
=====================  ============================================  ===========================

Caption files: every line of a ``.txt`` file is an item (a trailing newline does not make an
extra one); blank lines and empty captions are *kept* as items whose ``problem`` is
``"empty caption"``, so every input line is accounted for (they end up in a job's ``failed``
list, never silently dropped). Captions are stripped of surrounding whitespace. Files are
UTF-8 (a byte-order mark is accepted). ``.jsonl`` blank lines are not records and are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vslerp.errors import InputError
from vslerp.fileio import EMBEDDING_SUFFIXES, load_embeddings
from vslerp.imaging import IMAGE_SUFFIXES, find_images

__all__ = [
    "CAPTION_COLUMNS",
    "CAPTION_SUFFIXES",
    "EMPTY_CAPTION",
    "Modality",
    "Source",
    "SourceItem",
    "open_source",
    "parse_named_path",
]

Modality = Literal["image", "text", "embeddings"]
CAPTION_SUFFIXES = (".txt", ".jsonl", ".csv", ".json")
CAPTION_COLUMNS = ("caption", "text", "sentence")
"""Caption field/column names tried in order when ``caption_column`` is not given."""
EMPTY_CAPTION = "empty caption"
_MODALITIES = ("auto", "image", "text", "embeddings")


@dataclass(frozen=True)
class SourceItem:
    """One item of a :class:`Source`.

    Attributes:
        id: stable identifier (see the module table).
        label: file name or caption text.
        path: the image file (image sources), else ``None``.
        text: the caption, stripped (text sources), else ``None``.
        row: the row in the embedding matrix (embeddings sources), else ``None``.
        problem: a reason the item cannot be encoded, known without encoding (``"empty
            caption"``), else ``None``.
    """

    id: str
    label: str
    path: Path | None = None
    text: str | None = None
    row: int | None = None
    problem: str | None = None


@dataclass
class Source:
    """An opened source: its items, in a deterministic order.

    Attributes:
        name: display name (default: the folder name or file stem).
        modality: ``"image"``, ``"text"`` or ``"embeddings"``.
        location: the folder or file it was opened from.
        items: the items; ids are unique.
        embeddings: ``(N, D)`` float32 for embeddings sources (row ``i`` is ``items[i]``),
            else ``None``.
        encoder_id: for embeddings files, the encoder recorded in the file (safetensors
            metadata ``encoder_id``), else ``None``.
    """

    name: str
    modality: Modality
    location: Path
    items: list[SourceItem]
    embeddings: np.ndarray | None = None
    encoder_id: str | None = None
    _digest: str | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.items)

    def digest(self) -> str:
        """SHA-256 of the listing and contents: ids, labels and caption texts; for images each
        file's size and modification time (ns); for embeddings the matrix bytes. Any change
        to the source changes it (used in job fingerprints)."""
        if self._digest is None:
            h = hashlib.sha256()
            h.update(f"{self.modality}\0{len(self.items)}\0".encode())
            for item in self.items:
                h.update(json.dumps([item.id, item.label, item.text, item.row, item.problem],
                                    ensure_ascii=False).encode())
                if item.path is not None:
                    try:
                        stat = item.path.stat()
                        h.update(f"\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
                    except OSError as err:
                        h.update(f"\0unreadable: {err}".encode())
                h.update(b"\n")
            if self.embeddings is not None:
                h.update(str(self.embeddings.dtype).encode())
                h.update(np.ascontiguousarray(self.embeddings).tobytes())
            self._digest = h.hexdigest()
        return self._digest


# --------------------------------------------------------------------------------------------
# Helpers


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError("path", str(path), f"line {line}: not valid UTF-8 ({err.reason} at "
                                            f"byte {err.start})") from err


def _caption_item(ident: str, caption: Any, where: str, path: Path) -> SourceItem:
    if caption is None:
        caption = ""
    if not isinstance(caption, str):
        raise InputError("path", str(path),
                         f"{where}: caption is a {type(caption).__name__}, expected a string")
    text = caption.strip()
    return SourceItem(id=ident, label=text, text=text,
                      problem=None if text else EMPTY_CAPTION)


def _check_unique(items: list[SourceItem], path: Path) -> list[SourceItem]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id in seen:
            raise InputError("path", str(path), f"duplicate id {item.id!r} (items "
                                                f"{seen[item.id] + 1} and {i + 1}); ids must be "
                                                f"unique")
        seen[item.id] = i
    return items


def _record_id(value: Any, where: str, path: Path) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise InputError("path", str(path), f"{where}: 'id' must be a non-empty string or an "
                                            f"integer, got {value!r}")
    return str(value)


def _pick_field(names: list[str], wanted: str | None, where: str, path: Path) -> str:
    if wanted is not None:
        if wanted not in names:
            raise InputError("caption_column", wanted,
                             f"not in {path.name} ({where}); it has {', '.join(names) or 'none'}")
        return wanted
    lowered = {n.lower(): n for n in names}
    for candidate in CAPTION_COLUMNS:
        if candidate in lowered:
            return lowered[candidate]
    raise InputError("caption_column", None,
                     f"{path.name} ({where}) has none of {', '.join(CAPTION_COLUMNS)}; it has "
                     f"{', '.join(names) or 'none'}; name the caption column")


# --------------------------------------------------------------------------------------------
# Readers


def _read_images(folder: Path) -> list[SourceItem]:
    paths = find_images(folder)
    if not paths:
        raise InputError("path", str(folder), f"no images found (looked recursively for "
                                              f"{', '.join(IMAGE_SUFFIXES)})")
    return [SourceItem(id=p.relative_to(folder).as_posix(), label=p.name, path=p) for p in paths]


def _read_txt(path: Path) -> list[SourceItem]:
    lines = _read_text(path).splitlines()
    return [_caption_item(str(n), line, f"line {n}", path) for n, line in enumerate(lines, 1)]


def _read_jsonl(path: Path, caption_column: str | None) -> list[SourceItem]:
    items: list[SourceItem] = []
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError("path", str(path),
                             f"{where}: malformed JSON ({err.msg} at column {err.colno})") from err
        if not isinstance(record, dict):
            raise InputError("path", str(path), f"{where}: expected a JSON object, got "
                                                f"{type(record).__name__}")
        key = _pick_field(list(record), caption_column, where, path)
        ident = _record_id(record["id"], where, path) if "id" in record else str(n)
        items.append(_caption_item(ident, record[key], where, path))
    return items


def _read_csv(path: Path, caption_column: str | None) -> list[SourceItem]:
    text = _read_text(path)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = list(reader.fieldnames or [])
        if not header:
            raise InputError("path", str(path), "empty CSV file (no header row)")
        key = _pick_field(header, caption_column, "header", path)
        has_id = "id" in header and key != "id"
        items = []
        for n, row in enumerate(reader, 1):
            where = f"row {n}"
            if None in row:  # more cells than header columns
                raise InputError("path", str(path), f"{where}: more cells than the header has "
                                                    f"columns")
            ident = _record_id(row["id"], where, path) if has_id else str(n)
            items.append(_caption_item(ident, row[key], where, path))
    except csv.Error as err:
        raise InputError("path", str(path), f"malformed CSV: {err}") from err
    return items


def _read_coco(path: Path, caption_column: str | None) -> list[SourceItem]:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise InputError("path", str(path), f"line {err.lineno}: malformed JSON ({err.msg} at "
                                            f"column {err.colno})") from err
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list):
        raise InputError("path", str(path), "expected an MS-COCO captions file: a JSON object "
                                            "with an 'annotations' list of {id, caption}")
    key = caption_column or "caption"
    items = []
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict) or key not in ann:
            raise InputError("path", str(path), f"{where}: expected an object with a {key!r} "
                                                f"field")
        ident = _record_id(ann["id"], where, path) if "id" in ann else str(i)
        items.append(_caption_item(ident, ann[key], where, path))
    return items


def _read_embeddings(path: Path) -> tuple[np.ndarray, list[str], str | None]:
    suffix = path.suffix.lower()
    ids: list[str] | None = None
    encoder_id: str | None = None
    key = None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if "ids" in names:
                    raw = z["ids"]
                    if raw.dtype.kind not in "USiu" or raw.ndim != 1:
                        raise InputError("path", str(path), "'ids' must be a 1-D array of "
                                                            "strings or integers")
                    ids = [str(v) for v in raw.tolist()]
                    rest = [n for n in names if n != "ids"]
                    key = rest[0] if len(rest) == 1 else None
        except InputError:
            raise
        except Exception as err:
            raise InputError("path", str(path), f"cannot read embeddings: {err}") from err
    elif suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
        except Exception as err:
            raise InputError("path", str(path), f"cannot read embeddings: {err}") from err
        encoder_id = meta.get("encoder_id") or None
        if "ids" in meta:
            try:
                parsed = json.loads(meta["ids"])
            except json.JSONDecodeError as err:
                raise InputError("path", str(path), f"metadata 'ids' is not JSON: {err}") from err
            if not isinstance(parsed, list):
                raise InputError("path", str(path), "metadata 'ids' must be a JSON list")
            ids = [str(v) for v in parsed]
    matrix = load_embeddings(path, key=key)
    if ids is None:
        ids = [str(i) for i in range(matrix.shape[0])]
    if len(ids) != matrix.shape[0]:
        raise InputError("path", str(path), f"{len(ids)} ids for {matrix.shape[0]} rows")
    return matrix, ids, encoder_id


# --------------------------------------------------------------------------------------------
# Public API


def _auto_modality(path: Path) -> Modality:
    if path.is_dir():
        return "image"
    suffix = path.suffix.lower()
    if suffix in CAPTION_SUFFIXES:
        return "text"
    if suffix in EMBEDDING_SUFFIXES:
        return "embeddings"
    raise InputError("path", str(path),
                     f"unknown suffix {path.suffix!r}: expected an image folder, a caption file "
                     f"({', '.join(CAPTION_SUFFIXES)}) or an embeddings file "
                     f"({', '.join(EMBEDDING_SUFFIXES)})")


def _expected_modality(location: Path, modality: str) -> Modality:
    """The modality of ``location``; with an explicit ``modality``, ``location`` must fit it."""
    if modality == "auto":
        return _auto_modality(location)
    suffix = location.suffix.lower()
    if modality == "image":
        if not location.is_dir():
            raise InputError("path", str(location), "expected a folder of images, got a file")
        return "image"
    allowed = CAPTION_SUFFIXES if modality == "text" else EMBEDDING_SUFFIXES
    what = "caption file" if modality == "text" else "embeddings"
    if location.is_dir():
        raise InputError("path", str(location), f"is a folder; expected a {what} file "
                                                f"({', '.join(allowed)})")
    if suffix not in allowed:
        raise InputError("path", str(location), f"unsupported {what} format {location.suffix!r};"
                                                f" use one of {', '.join(allowed)}")
    return "text" if modality == "text" else "embeddings"


def open_source(path: str | os.PathLike[str], *, name: str | None = None,
                modality: Literal["auto", "image", "text", "embeddings"] = "auto",
                caption_column: str | None = None) -> Source:
    """Open an image folder, a caption file or an embeddings file as a :class:`Source`.

    Args:
        path: a folder of images (searched recursively with
            :func:`vslerp.imaging.find_images`; hidden files skipped), a caption file
            (``.txt`` one per line, ``.jsonl`` with a ``caption``/``text`` field, ``.csv``, or
            an MS-COCO ``captions_*.json``), or an embeddings file (``.npy``, ``.npz``,
            ``.safetensors``; ids from an ``ids`` array (npz) or ``ids`` JSON metadata
            (safetensors)).
        name: display name; default the folder name or the file stem.
        modality: ``"auto"`` decides from ``path`` (a folder is images; the suffix decides for
            files); an explicit value must agree with what ``path`` is (a folder for
            ``"image"``, a caption suffix for ``"text"``, an embeddings suffix for
            ``"embeddings"``).
        caption_column: the caption field (``.jsonl``, MS-COCO) or column (``.csv``); default
            the first of ``caption``, ``text``, ``sentence`` present.

    Returns:
        The :class:`Source`, items in a deterministic order (sorted paths; file order).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputError: an empty folder or file, an unknown suffix, a modality that does not fit,
            a CSV/JSONL without the caption column, malformed JSON/CSV (naming the line/row),
            invalid UTF-8, duplicate ids, or an unreadable embeddings file.
    """
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise InputError("path", path, "expected a path to a folder or file")
    if modality not in _MODALITIES:
        raise InputError("modality", modality, f"expected one of {', '.join(_MODALITIES)}")
    if caption_column is not None and (not isinstance(caption_column, str)
                                       or not caption_column):
        raise InputError("caption_column", caption_column, "expected a non-empty str or None")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InputError("name", name, "expected a non-empty str or None")
    location = Path(path).expanduser()
    if not location.exists():
        raise FileNotFoundError(f"source not found: {location}")
    detected = _expected_modality(location, modality)
    resolved = location.resolve()
    display = name.strip() if name is not None else (
        resolved.name if location.is_dir() else resolved.stem) or str(location)
    embeddings = None
    encoder_id = None
    if detected == "image":
        items = _read_images(location)
    elif detected == "embeddings":
        embeddings, ids, encoder_id = _read_embeddings(location)
        items = [SourceItem(id=i, label=i, row=r) for r, i in enumerate(ids)]
    else:
        suffix = location.suffix.lower()
        if suffix == ".txt":
            items = _read_txt(location)
        elif suffix == ".jsonl":
            items = _read_jsonl(location, caption_column)
        elif suffix == ".csv":
            items = _read_csv(location, caption_column)
        else:
            items = _read_coco(location, caption_column)
        if not items:
            raise InputError("path", str(location), "holds no captions")
    return Source(name=display, modality=detected, location=location,
                  items=_check_unique(items, location), embeddings=embeddings,
                  encoder_id=encoder_id)


def parse_named_path(text: str, option: str = "--source") -> tuple[str | None, Path]:
    """``NAME=PATH`` → ``(NAME, PATH)``; a bare ``PATH`` → ``(None, PATH)`` (the source is then
    named after its folder or file). A string that is an existing path as a whole is always a
    bare path, so file names containing ``=`` work."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(option, text, "expected NAME=PATH or PATH")
    if "=" in text and not Path(text).expanduser().exists():
        name, _, path = text.partition("=")
        if not name.strip():
            raise InputError(option, text, "the NAME in NAME=PATH is empty")
        if not path.strip():
            raise InputError(option, text, "the PATH in NAME=PATH is empty")
        return name.strip(), Path(path.strip()).expanduser()
    return None, Path(text).expanduser()
