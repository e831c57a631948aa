"""Safe image loading and the pictures vslerp produces (contact sheets, animations, thumbnails).

Loading (:func:`load_image`) always returns a fully decoded 8-bit RGB :class:`PIL.Image.Image`:

* EXIF orientation is applied (``ImageOps.exif_transpose``).
* Transparency (RGBA, LA, PA, palette or single-colour ``transparency``) is composited on white.
* 16-bit images (``I;16*``) are scaled to 8 bits (``round(v / 257)``), not clipped.
* Animated files give their first frame.
* The pixel count is checked from the header, before any pixel data is decoded, against
  ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS` = 50 MP, below Pillow's own
  decompression-bomb limit of about 89 MP). Pillow's ``DecompressionBombWarning`` /
  ``DecompressionBombError`` never reach the caller; they become an :class:`ImageLoadError`.
* Only PNG, JPEG (and MPO), GIF, WebP, BMP and TIFF are decoded. Other formats Pillow knows
  (EPS, which runs Ghostscript, PSD, ...) are refused, which keeps untrusted uploads away from
  rarely used decoders.
* Truncated, empty, unreadable or non-image files raise :class:`ImageLoadError` with a human
  reason. Truncated files are never silently padded (``LOAD_TRUNCATED_IMAGES`` is not used).

Writing goes through :mod:`vslerp.fileio`: the image is encoded into memory first and then written
atomically, so an encoding failure never leaves a partial file or clobbers an existing one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from vslerp.errors import InputError
from vslerp.fileio import write_bytes_atomic

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageLoadError",
    "ImageSource",
    "LoadResult",
    "contact_sheet",
    "find_images",
    "image_digest",
    "load_image",
    "load_images",
    "save_gif",
    "save_image",
    "thumbnail",
    "to_data_uri",
]

DEFAULT_MAX_PIXELS = 50_000_000
"""Default pixel cap for :func:`load_image` (50 MP): below Pillow's ``MAX_IMAGE_PIXELS``."""

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff",
)
"""Lower-case file suffixes :func:`find_images` picks up (matched case-insensitively)."""

# Pillow format ids :func:`load_image` decodes ("JPEG" also opens the multi-picture MPO files
# many cameras write).
_OPEN_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")

# Suffix -> Pillow format for writing, and the modes each format stores as they are
# (anything else is first normalised to RGB like a loaded image).
_SAVE_FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF",
}
_KEEP_MODES: dict[str, frozenset[str]] = {
    "PNG": frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}),
    "JPEG": frozenset({"L", "RGB"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
    "GIF": frozenset({"L", "P", "RGB"}),
}
_ANIMATION_FORMATS = frozenset({"GIF", "PNG", "WEBP"})
_WHITE = (255, 255, 255)

ImageSource = (
    str | os.PathLike | bytes | bytearray | memoryview | IO[bytes] | np.ndarray | Image.Image
)
"""What :func:`load_image` accepts: a path, encoded bytes, a binary file object, a uint8 array
``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``, or a PIL image."""


class ImageLoadError(InputError):
    """An image could not be loaded. ``argument`` is ``"image"`` (or the name the caller gave),
    ``value`` the file path (or the in-memory source) and ``problem`` a human reason such as
    ``"truncated JPEG file"`` or ``"not an image"``."""


@dataclass
class LoadResult:
    """Outcome of :func:`load_images`; every input appears once, in input order, in one list.

    Attributes:
        images: ``(path, RGB image)`` pairs that loaded.
        failed: ``(path, reason)`` pairs that did not.
    """

    images: list[tuple[Path, Image.Image]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Loading


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.4g} MP"


def _check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise InputError("max_pixels", max_pixels, "expected a positive int")


def _too_many_pixels(
    width: int | None, height: int | None, pixels: int, cap: int, what: str = "cap"
) -> str:
    size = f"{width}x{height} = " if width is not None else ""
    return f"too many pixels: {size}{_megapixels(pixels)} > {_megapixels(cap)} {what}"


def _recognised_format(fp: IO[bytes]) -> str | None:
    """The first of :data:`_OPEN_FORMATS` whose signature the first 16 bytes of ``fp`` match
    (for error messages; ``Image.open`` does the real identification)."""
    try:
        fp.seek(0)
        prefix = fp.read(16)
        for fmt in _supported_open_formats():
            accept = Image.OPEN[fmt][1]
            recognised = accept is None or accept(prefix)
            if recognised and not isinstance(recognised, str):
                return fmt
    except Exception:
        return None
    return None


def _refused_header_size(fp: IO[bytes]) -> tuple[int, int] | None:
    """The size in a header Pillow refused as a decompression bomb, for the error message only.

    Reads the header again with the plugin that recognises it; nothing is decoded.
    """
    fmt = _recognised_format(fp)
    if fmt is None:
        return None
    try:
        fp.seek(0)
        width, height = Image.OPEN[fmt][0](fp, "").size
    except Exception:
        return None
    return int(width), int(height)


def _open_lazily(fp: IO[bytes], cap: int) -> Image.Image:
    """``Image.open`` (header only) restricted to :data:`_OPEN_FORMATS`.

    Pillow's decompression-bomb warning is silenced (the caller checks ``cap`` next) and its
    error, like an unrecognised file, becomes a ``_LoadFailure`` with a human reason.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(fp, formats=_supported_open_formats())
        except Image.DecompressionBombError as err:
            numbers = [int(n) for n in re.findall(r"\d+", str(err))]
            size = _refused_header_size(fp)
            width, height = size if size else (None, None)
            pixels = size[0] * size[1] if size else numbers[0] if numbers else 0
            if pixels > cap or len(numbers) < 2:
                reason = _too_many_pixels(width, height, pixels, cap)
            else:  # max_pixels is above Pillow's own hard limit
                reason = _too_many_pixels(width, height, pixels, numbers[1],
                                          "Pillow decompression-bomb limit")
            raise _LoadFailure(reason) from err
        except (UnidentifiedImageError, OSError) as err:
            fmt = _recognised_format(fp)
            if fmt is not None:
                detail = "" if isinstance(err, UnidentifiedImageError) else f" ({err})"
                raise _LoadFailure(f"truncated or corrupt {fmt} header{detail}") from err
            names = ", ".join(_OPEN_FORMATS)
            raise _LoadFailure(f"not an image (or not one of {names})") from err


@functools.lru_cache(maxsize=1)
def _supported_open_formats() -> tuple[str, ...]:
    """The formats of :data:`_OPEN_FORMATS` this Pillow build can open (all, normally)."""
    Image.init()
    return tuple(f for f in _OPEN_FORMATS if f in Image.OPEN)


class _LoadFailure(Exception):
    """Internal: a reason why an image did not load; turned into :class:`ImageLoadError`."""


def _scale_16bit(im: Image.Image) -> Image.Image:
    """``I;16*`` / ``I`` / ``F`` single-channel images to ``L``.

    * ``I;16*`` and ``I`` with values in ``[0, 65535]``: 16-bit data, ``round(v / 257)``.
    * ``I`` outside that range: min-max stretched to ``[0, 255]``.
    * ``F``: values in ``[0, 1]`` are scaled by 255, otherwise taken as 0-255 and clipped;
      NaN becomes 0.
    """
    arr = np.asarray(im)
    if im.mode == "F":
        data = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if data.size and data.min() >= 0.0 and data.max() <= 1.0:
            data = data * 255.0
    else:
        data = arr.astype(np.float64)
        if data.size and (data.min() < 0 or data.max() > 65535):
            low, high = data.min(), data.max()
            data = (data - low) * (255.0 / (high - low)) if high > low else data * 0.0
        else:
            data = data / 257.0
    return Image.fromarray(np.clip(np.rint(data), 0, 255).astype(np.uint8))


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any decoded PIL image to 8-bit RGB: transparency composited on white, 16-bit and float
    data scaled (see :func:`_scale_16bit`), every other mode through ``convert("RGB")``.

    Returns a new image (the input is never modified) or ``im`` itself when it is RGB already.
    """
    if im.mode.startswith("I") or im.mode == "F":
        return _scale_16bit(im).convert("RGB")
    if im.has_transparency_data:
        rgba = (im.convert("LA") if im.mode == "La" else im).convert("RGBA")
        white = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode == "RGB":
        return im
    return im.convert("RGB")


def _array_to_image(arr: np.ndarray, argument: str) -> Image.Image:
    if arr.dtype != np.uint8:
        raise ImageLoadError(
            argument, arr,
            "expected a uint8 array; convert floats in [0, 1] with "
            "(x * 255).round().astype(np.uint8)",
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ImageLoadError(argument, arr, "expected shape (H, W), (H, W, 3) or (H, W, 4)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageLoadError(argument, arr, "is empty")
    return Image.fromarray(np.ascontiguousarray(arr))


def _decode(im: Image.Image, cap: int) -> Image.Image:
    """Check the (header) size against ``cap``, then decode frame 0 and normalise to RGB."""
    width, height = im.size
    if width * height > cap:
        raise _LoadFailure(_too_many_pixels(width, height, width * height, cap))
    if width == 0 or height == 0:
        raise _LoadFailure(f"has no pixels ({width}x{height})")
    fmt = im.format or "image"
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        im.load()
    except Exception as err:
        if "truncated" in str(err).lower():
            raise _LoadFailure(f"truncated {fmt} file ({err})") from err
        raise _LoadFailure(
            f"truncated or corrupt {fmt} data ({type(err).__name__}: {err})"
        ) from err
    try:
        oriented = ImageOps.exif_transpose(im)
    except Exception:  # unreadable EXIF block: the pixels are fine, keep them as stored
        oriented = im.copy()
    try:
        return _to_rgb(oriented)
    except Exception as err:
        raise _LoadFailure(f"cannot convert mode {oriented.mode} to RGB ({err})") from err


def load_image(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Image.Image:
    """Load one image, safely, as a fully decoded 8-bit RGB image.

    Args:
        source: a path (``str`` / ``os.PathLike``), encoded file bytes, a binary file object
            (read from its start, not closed), a ``uint8`` numpy array of shape
            ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA), or a PIL
            image (not modified, but a lazily opened one is decoded here and, if animated,
            rewound to frame 0).
        max_pixels: refuse images with more than this many pixels (``W * H``), checked from
            the header before decoding. Default :data:`DEFAULT_MAX_PIXELS` (50 MP). Pillow
            refuses anything over twice its ``MAX_IMAGE_PIXELS`` (about 179 MP) regardless.
        name: argument name used in errors (default ``"image"``).

    Returns:
        A new ``PIL.Image.Image`` in mode ``"RGB"`` (``(H, W, 3)`` uint8 as an array), EXIF
        orientation applied, transparency composited on white, first frame of an animation.

    Raises:
        ImageLoadError: missing path, directory, empty or unreadable file, not an image (or a
            format outside PNG/JPEG/GIF/WebP/BMP/TIFF), truncated or corrupt data, too many
            pixels, or an unsupported array. ``value`` is the path for files.
        InputError: ``max_pixels`` is not a positive int.
    """
    _check_max_pixels(max_pixels)
    argument = name or "image"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        value = str(path)
        try:
            if path.is_dir():
                raise _LoadFailure("is a directory, not an image file")
            if not path.exists():
                raise _LoadFailure("no such file")
            if path.stat().st_size == 0:
                raise _LoadFailure("empty file (0 bytes)")
            with path.open("rb") as fh:
                return _decode(_open_lazily(fh, max_pixels), max_pixels)
        except _LoadFailure as err:
            raise ImageLoadError(argument, value, str(err)) from err.__cause__
        except OSError as err:  # permission denied, I/O error, ...
            raise ImageLoadError(argument, value, f"cannot read file ({err})") from err
    try:
        if isinstance(source, Image.Image):
            return _decode(source, max_pixels)
        if isinstance(source, np.ndarray):
            return _decode(_array_to_image(source, argument), max_pixels)
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise _LoadFailure("empty (0 bytes)")
            return _decode(_open_lazily(io.BytesIO(bytes(source)), max_pixels), max_pixels)
        if callable(getattr(source, "read", None)):
            fh = source if _seekable(source) else io.BytesIO(source.read())
            return _decode(_open_lazily(fh, max_pixels), max_pixels)
    except _LoadFailure as err:
        raise ImageLoadError(argument, source, str(err)) from err.__cause__
    except OSError as err:
        raise ImageLoadError(argument, source, f"cannot read ({err})") from err
    raise ImageLoadError(
        argument, source,
        "expected a path, bytes, a binary file object, a uint8 numpy array or a PIL image",
    )


def _seekable(fh: IO[bytes]) -> bool:
    try:
        return bool(fh.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def find_images(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Image files in ``folder``: suffix in :data:`IMAGE_SUFFIXES` (any case).

    Hidden files and folders (name starting with ``.``) are skipped. Symlinked folders are
    followed once each (loops are safe). The result is sorted by path components, so it is the
    same on every run and platform; paths start with ``folder`` as given.

    Raises:
        InputError: ``folder`` does not exist or is not a directory.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError("folder", str(root), "does not exist")
    if not root.is_dir():
        raise InputError("folder", str(root), "is a file, not a folder")
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for current, dirs, files in os.walk(root, followlinks=True):
        try:
            stat = os.stat(current)
        except OSError:  # vanished or unreadable while walking
            dirs[:] = []
            continue
        key = (stat.st_dev, stat.st_ino)
        if key in seen:  # a symlink back to a folder already walked
            dirs[:] = []
            continue
        seen.add(key)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(current)
        for name in files:
            path = base / name
            if (not name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
                    and path.is_file()):
                found.append(path)
        if not recursive:
            dirs[:] = []
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def load_images(
    paths: Iterable[str | os.PathLike[str]], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadResult:
    """Load many images; a file that fails is recorded with its reason, never fatal.

    Args:
        paths: image paths (e.g. from :func:`find_images`); a single ``str``/path is refused
            so that a folder name is not taken for a list of one-character paths.
        max_pixels: see :func:`load_image`.

    Returns:
        :class:`LoadResult`: ``images`` as ``(path, RGB image)`` and ``failed`` as
        ``(path, reason)``, each in input order; every input appears exactly once overall.

    Raises:
        InputError: ``paths`` is a single path, or ``max_pixels`` is invalid.
    """
    _check_max_pixels(max_pixels)
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise InputError(
            "paths", paths, "expected a list of paths, got one; use find_images(folder) first"
        )
    result = LoadResult()
    for item in paths:
        path = Path(item)
        try:
            result.images.append((path, load_image(path, max_pixels=max_pixels)))
        except ImageLoadError as err:
            result.failed.append((path, err.problem))
    return result


def image_digest(img: Image.Image) -> str:
    """SHA-256 hex digest of an image's mode, size and pixel bytes (not its file encoding).

    Two images with the same mode, size and pixels get the same digest whatever they were
    loaded from; used as an embedding-cache key.
    """
    if not isinstance(img, Image.Image):
        raise InputError("img", img, "expected a PIL image")
    digest = hashlib.sha256()
    digest.update(f"{img.mode}\0{img.size[0]}x{img.size[1]}\0".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Producing pictures


def _check_image(img: object, argument: str) -> Image.Image:
    if not isinstance(img, Image.Image):
        raise InputError(argument, img, "expected a PIL image")
    if img.width == 0 or img.height == 0:
        raise InputError(argument, img, f"has no pixels ({img.width}x{img.height})")
    return img


def _check_positive_int(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(argument, value, "expected a positive int")
    return int(value)


def thumbnail(img: Image.Image, max_side: int) -> Image.Image:
    """A copy of ``img`` whose longer side is at most ``max_side`` pixels, aspect ratio kept
    (Lanczos). Images already small enough are copied, never enlarged. The mode is kept."""
    _check_image(img, "img")
    side = _check_positive_int(max_side, "max_side")
    out = img.copy()
    out.thumbnail((side, side), Image.Resampling.LANCZOS)
    return out


def _encode(img: Image.Image, fmt: str, *, quality: int = 95, **options: object) -> bytes:
    """Encode ``img`` as Pillow format ``fmt`` into memory. Modes ``fmt`` cannot store as they
    are are normalised to RGB first (transparency composited on white)."""
    if img.mode not in _KEEP_MODES[fmt]:
        img = _to_rgb(img)
    if fmt in ("JPEG", "WEBP"):
        options.setdefault("quality", quality)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _format_for(path: Path, allowed: Iterable[str] | None = None) -> str:
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None or (allowed is not None and fmt not in allowed):
        choices = [s for s, f in _SAVE_FORMATS.items() if allowed is None or f in allowed]
        raise InputError(
            "path", str(path),
            f"unsupported suffix {path.suffix!r}; use one of {', '.join(choices)}",
        )
    return fmt


def _check_quality(quality: object) -> int:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InputError("quality", quality, "expected an int in [1, 100]")
    return quality


def save_image(img: Image.Image, path: str | os.PathLike[str], *, quality: int = 95) -> Path:
    """Write ``img`` atomically; the format comes from the suffix (.png, .jpg/.jpeg, .webp,
    .gif). ``quality`` (1-100) applies to JPEG and WebP. Modes the format cannot store are
    converted to RGB (transparency on white). Returns the path.

    The image is encoded in memory before anything is written: a failure leaves no partial
    file and an existing file untouched.
    """
    _check_image(img, "img")
    target = Path(path)
    fmt = _format_for(target)
    return write_bytes_atomic(target, _encode(img, fmt, quality=_check_quality(quality)))


def save_gif(
    frames: Sequence[Image.Image],
    path: str | os.PathLike[str],
    *,
    duration_ms: int = 200,
    loop: int = 0,
    boomerang: bool = False,
) -> Path:
    """Write an animation atomically: GIF for ``.gif`` (animated PNG for ``.png``, animated WebP
    for ``.webp``). Returns the path.

    Args:
        frames: one or more PIL images of the same size; each is normalised to RGB
            (transparency on white).
        path: target file; its suffix picks the format.
        duration_ms: display time of each frame in milliseconds (>= 10). GIF stores hundredths
            of a second, so it is rounded to a multiple of 10 ms there; browsers show GIF frames
            shorter than 20 ms for 100 ms.
        loop: number of repeats, 0 = forever.
        boomerang: play forwards then backwards (``f0 .. fn, fn-1 .. f1``) without repeating
            the end frames, for a seamless loop.

    Note:
        The GIF encoder merges identical consecutive frames (their durations add up).
    """
    if isinstance(frames, Image.Image) or not isinstance(frames, Sequence) or not frames:
        raise InputError("frames", frames, "expected a non-empty sequence of PIL images")
    for i, frame in enumerate(frames):
        _check_image(frame, f"frames[{i}]")
        if frame.size != frames[0].size:
            raise InputError(
                f"frames[{i}]", frame,
                f"size {frame.width}x{frame.height} differs from frames[0] "
                f"({frames[0].width}x{frames[0].height})",
            )
    duration = _check_positive_int(duration_ms, "duration_ms")
    if duration < 10:
        raise InputError("duration_ms", duration_ms, "expected at least 10 ms")
    if isinstance(loop, bool) or not isinstance(loop, int) or loop < 0:
        raise InputError("loop", loop, "expected an int >= 0 (0 = forever)")
    target = Path(path)
    fmt = _format_for(target, _ANIMATION_FORMATS)
    sequence = list(frames)
    if boomerang:
        sequence += sequence[-2:0:-1]
    rgb = [_to_rgb(frame) for frame in sequence]
    options: dict[str, object] = {"save_all": True, "append_images": rgb[1:],
                                  "duration": duration, "loop": loop}
    if fmt == "WEBP":
        options["lossless"] = True
    return write_bytes_atomic(target, _encode(rgb[0], fmt, **options))


def to_data_uri(
    img: Image.Image,
    *,
    max_side: int | None = None,
    fmt: Literal["JPEG", "PNG"] = "JPEG",
    quality: int = 85,
) -> str:
    """A ``data:image/jpeg;base64,...`` (or ``image/png``) URI for self-contained HTML.

    ``max_side`` shrinks the image first (see :func:`thumbnail`); ``quality`` applies to JPEG.
    JPEG output is RGB with transparency composited on white.
    """
    _check_image(img, "img")
    if fmt not in ("JPEG", "PNG"):
        raise InputError("fmt", fmt, "expected 'JPEG' or 'PNG'")
    if max_side is not None:
        img = thumbnail(img, max_side)
    data = _encode(img, fmt, quality=_check_quality(quality))
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------------------------
# Contact sheets

_MAX_DEFAULT_CELL_SIDE = 512
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=1)
def _font_file() -> str | None:
    """DejaVu Sans as shipped inside matplotlib (a core dependency; it has Greek glyphs), or
    None when it cannot be found."""
    try:
        from matplotlib import font_manager

        path = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    except Exception:
        return None
    return path if path.lower().endswith(".ttf") else None


@functools.lru_cache(maxsize=16)
def _font(size: int) -> _Font:
    """DejaVu Sans from matplotlib when available, else Pillow's built-in scalable font
    (Pillow >= 10.1 with FreeType; a bitmap font without). Labels drawn with the built-in
    font have glyphs it lacks spelled out (see :func:`_drawable`)."""
    path = _font_file()
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


def _glyph_pixels(char: str) -> bytes:
    canvas = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(canvas).text((8, 8), char, font=_font(24), fill=255)
    return canvas.tobytes()


@functools.lru_cache(maxsize=256)
def _has_glyph(char: str) -> bool:
    """Whether the built-in font draws ``char`` (rather than nothing or its 'missing glyph'
    box, which is what it draws for the non-character U+FFFF)."""
    try:
        pixels = _glyph_pixels(char)
        return any(pixels) and pixels != _glyph_pixels("\uffff")
    except Exception:  # e.g. a bitmap font that cannot encode the character
        return False


def _drawable(text: str) -> str:
    """``text`` with characters the label font lacks replaced: Greek letters by their names
    (``α`` -> ``alpha``), anything else by ``?`` (Pillow's built-in font has no Greek)."""
    out = []
    for char in text:
        if char.isspace() or _has_glyph(char):
            out.append(char)
            continue
        uname = unicodedata.name(char, "")
        greek = re.fullmatch(r"GREEK (SMALL|CAPITAL) LETTER (\w+)", uname)
        if greek:
            letter = greek.group(2).lower()
            out.append(letter if greek.group(1) == "SMALL" else letter.capitalize())
        else:
            out.append("?")
    return "".join(out)


def _label(title: str, value: object) -> str:
    text = f"{float(value):.4g}" if isinstance(value, (float, np.floating)) else str(value)
    return _drawable(f"{title} = {text}" if title else text)


def _text_size(font: _Font, text: str) -> tuple[int, int, int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(left), int(top), int(right), int(bottom)


def _line_height(font: _Font) -> int:
    """Height from the drawing origin to below the descenders."""
    return _text_size(font, "Ag")[3] + 1


def _draw_centered(draw: ImageDraw.ImageDraw, font: _Font, text: str,
                   box: tuple[int, int, int, int]) -> None:
    """Draw ``text`` centred in ``box`` = (x0, y0, x1, y1)."""
    left, top, right, bottom = _text_size(font, text)
    x = (box[0] + box[2] - (right - left)) // 2 - left
    y = (box[1] + box[3] - (bottom - top)) // 2 - top
    draw.text((x, y), text, font=font, fill=(0, 0, 0))


def _cell_size(cell_size: int | tuple[int, int] | None, first: Image.Image) -> tuple[int, int]:
    if cell_size is None:
        scale = min(1.0, _MAX_DEFAULT_CELL_SIDE / max(first.size))
        return max(1, round(first.width * scale)), max(1, round(first.height * scale))
    if isinstance(cell_size, (int, np.integer)) and not isinstance(cell_size, bool):
        side = _check_positive_int(cell_size, "cell_size")
        return side, side
    if (isinstance(cell_size, tuple) and len(cell_size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                    for v in cell_size)):
        return int(cell_size[0]), int(cell_size[1])
    raise InputError("cell_size", cell_size, "expected None, a positive int or (width, height)")


def _check_labels(labels: Sequence[object] | None, count: int, argument: str,
                  what: str) -> list[object] | None:
    if labels is None:
        return None
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = labels.tolist()
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise InputError(argument, labels, f"expected a sequence of {count} labels")
    if len(labels) != count:
        raise InputError(argument, labels, f"expected {count} labels (one per {what}), "
                                           f"got {len(labels)}")
    return list(labels)


def contact_sheet(
    cells: Sequence[Sequence[Image.Image]],
    *,
    row_labels: Sequence[object] | None = None,
    col_labels: Sequence[object] | None = None,
    row_title: str = "t",
    col_title: str = "α",
    title: str | None = None,
    cell_size: int | tuple[int, int] | None = None,
    pad: int = 8,
) -> Image.Image:
    """A labelled grid of images on white: ``cells[r][c]`` goes to row ``r`` (down), column
    ``c`` (across).

    Args:
        cells: ``R`` rows of ``C`` PIL images each (any mode; normalised to RGB).
        row_labels / col_labels: ``R`` / ``C`` values, a sequence or 1-D array (floats shown
            with 4 significant digits),
            drawn as ``"<title> = <value>"`` left of each row / above each column; ``None``
            draws no labels on that side.
        row_title / col_title: the quantity the rows / columns vary (``""`` for bare values).
            Characters the built-in font lacks are spelled out (``α`` -> ``alpha``).
        title: optional heading across the top.
        cell_size: ``(width, height)`` or a side for square cells. Default: the first cell's
            size, shrunk so its longer side is at most 512. Cells of another size are resized
            to fit, aspect kept, centred on white.
        pad: pixels between cells and around the grid (>= 0).

    Returns:
        An RGB image. Cell ``(r, c)``'s top-left corner is at
        ``(x0 + c * (cell_w + pad), y0 + r * (cell_h + pad))`` where ``(x0, y0)`` is the
        top-left cell's corner (right of the row labels, below the title and column labels).

    Raises:
        InputError: empty or ragged ``cells``, a cell that is not an image, label counts that
            do not match, a bad ``cell_size``/``pad``, or a sheet over
            :data:`DEFAULT_MAX_PIXELS`.
    """
    if isinstance(cells, Image.Image) or not isinstance(cells, Sequence) or not cells:
        raise InputError("cells", cells, "expected a non-empty sequence of rows of images")
    n_cols = -1
    for r, row in enumerate(cells):
        if isinstance(row, Image.Image) or not isinstance(row, Sequence) or not row:
            raise InputError(f"cells[{r}]", row, "expected a non-empty sequence of images")
        if n_cols < 0:
            n_cols = len(row)
        elif len(row) != n_cols:
            raise InputError("cells", f"row {r} of {len(cells)}",
                             f"ragged grid: row {r} has {len(row)} cells, row 0 has {n_cols}")
        for c, img in enumerate(row):
            _check_image(img, f"cells[{r}][{c}]")
    n_rows = len(cells)
    rows_text = _check_labels(row_labels, n_rows, "row_labels", "row")
    cols_text = _check_labels(col_labels, n_cols, "col_labels", "column")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise InputError("pad", pad, "expected an int >= 0")
    cell_w, cell_h = _cell_size(cell_size, cells[0][0])

    font_px = min(40, max(12, round(0.06 * min(cell_w, cell_h))))
    row_strings = [_label(row_title, v) for v in rows_text] if rows_text is not None else []
    col_strings = [_label(col_title, v) for v in cols_text] if cols_text is not None else []
    if col_strings:  # shrink the font until the widest column label fits its cell
        widest = max(_text_size(_font(font_px), s)[2] for s in col_strings)
        if widest > cell_w - 2:
            font_px = max(8, int(font_px * (cell_w - 2) / widest))
    font = _font(font_px)
    title_text = _drawable(title) if title else ""
    title_px = round(font_px * 1.3)
    title_font = _font(title_px)

    left = max((_text_size(font, s)[2] for s in row_strings), default=-pad) + pad
    title_h = _line_height(title_font) + pad if title_text else 0
    line_h = _line_height(font)
    header_h = line_h + pad if col_strings else 0
    x0, y0 = left + pad, title_h + header_h + pad
    width = x0 + n_cols * (cell_w + pad)
    if title_text:  # a title wider than the grid: a smaller font, then a wider canvas
        title_w = _text_size(title_font, title_text)[2]
        if title_w > width - 2 * pad and title_px > font_px:
            title_px = max(font_px, int(title_px * (width - 2 * pad) / title_w))
            title_font = _font(title_px)
            title_w = _text_size(title_font, title_text)[2]
        width = max(width, title_w + 2 * pad + 2)
    height = y0 + n_rows * (cell_h + pad)
    if width * height > DEFAULT_MAX_PIXELS:
        raise InputError("cell_size", cell_size,
                         f"sheet would be {width}x{height} = {_megapixels(width * height)} "
                         f"> {_megapixels(DEFAULT_MAX_PIXELS)}; pass a smaller cell_size")

    sheet = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(sheet)
    if title_text:
        _draw_centered(draw, title_font, title_text, (0, pad // 2, width, title_h))
    for c, text in enumerate(col_strings):
        x = x0 + c * (cell_w + pad)
        _draw_centered(draw, font, text, (x, title_h, x + cell_w, title_h + header_h))
    for r, text in enumerate(row_strings):
        y = y0 + r * (cell_h + pad)
        _draw_centered(draw, font, text, (pad // 2, y, left + pad // 2, y + cell_h))
    for r, row in enumerate(cells):
        for c, img in enumerate(row):
            rgb = _to_rgb(img)
            if rgb.size != (cell_w, cell_h):
                rgb = ImageOps.pad(rgb, (cell_w, cell_h), Image.Resampling.LANCZOS, _WHITE)
            sheet.paste(rgb, (x0 + c * (cell_w + pad), y0 + r * (cell_h + pad)))
    return sheet
