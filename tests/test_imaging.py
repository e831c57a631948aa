"""Tests for vslerp.imaging: safe loading, folder scans, digests, sheets, animations, URIs.

Real photos come from ``skimage.data`` (astronaut, coffee, chelsea; public domain). Bad files are
crafted in ``tmp_path``. Expected values come from independent oracles (numpy arithmetic on the
source arrays, the PNG spec, Pillow's reader), never from the code under test.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import time
import warnings
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data

from vslerp import imaging
from vslerp.errors import InputError
from vslerp.imaging import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    contact_sheet,
    find_images,
    image_digest,
    load_image,
    load_images,
    save_gif,
    save_image,
    thumbnail,
    to_data_uri,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()  # (512, 512, 3) uint8


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return data.coffee()  # (400, 600, 3) uint8


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return data.chelsea()  # (300, 451, 3) uint8


@pytest.fixture(autouse=True)
def _bomb_warnings_are_errors():
    """Pillow's decompression-bomb warning must never reach a caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming ``width x height`` RGB, then an IDAT holding an
    empty zlib stream and IEND: the header parses, the pixel data does not exist."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))


def _assert_load_error(source, fragment: str, *, value=None, argument: str = "image", **kw):
    with pytest.raises(ImageLoadError) as info:
        load_image(source, **kw)
    err = info.value
    assert isinstance(err, InputError)
    assert err.argument == argument
    assert fragment in err.problem, err.problem
    if value is not None:
        assert err.value == value
    return err


# ------------------------------------------------------------------------------------------
# load_image: sources and modes


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file", "array", "pil"])
def test_every_source_kind_gives_the_same_rgb_pixels(tmp_path, astronaut, kind):
    path = tmp_path / "astronaut.png"
    path.write_bytes(_png_bytes(Image.fromarray(astronaut)))
    source = {
        "path": path,
        "str": str(path),
        "bytes": path.read_bytes(),
        "file": io.BytesIO(path.read_bytes()),
        "array": astronaut,
        "pil": Image.fromarray(astronaut),
    }[kind]
    img = load_image(source)
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), astronaut)


def test_pil_input_is_neither_returned_nor_modified(astronaut):
    original = Image.fromarray(astronaut)
    loaded = load_image(original)
    assert loaded is not original
    loaded.putpixel((0, 0), (1, 2, 3))
    assert original.getpixel((0, 0)) == tuple(astronaut[0, 0])


def test_rgba_png_is_composited_on_white(tmp_path, coffee):
    alpha = np.full(coffee.shape[:2], 255, np.uint8)
    alpha[:50, :50] = 0      # fully transparent corner
    alpha[100:150, :] = 128  # half transparent band
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([coffee, alpha])).save(path)

    out = np.asarray(load_image(path)).astype(int)
    assert (out[:50, :50] == 255).all()
    np.testing.assert_array_equal(out[200:], coffee[200:])
    a = 128 / 255
    expected = a * coffee[100:150].astype(float) + (1 - a) * 255.0
    assert np.abs(out[100:150] - expected).max() <= 1.0


def test_la_png_is_composited_on_white(tmp_path, coffee):
    gray = coffee[..., 1]
    alpha = np.full(gray.shape, 255, np.uint8)
    alpha[:, :10] = 0
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([gray, alpha])).save(path)
    assert Image.open(path).mode == "LA"

    out = np.asarray(load_image(path))
    assert (out[:, :10] == 255).all()
    for channel in range(3):
        np.testing.assert_array_equal(out[:, 10:, channel], gray[:, 10:])


def test_palette_png_with_transparency_index_becomes_white(tmp_path, chelsea):
    pal = Image.fromarray(chelsea).quantize(colors=32)
    index = np.asarray(pal)
    transparent = int(index[0, 0])
    path = tmp_path / "palette.png"
    pal.save(path, transparency=transparent)
    assert Image.open(path).mode == "P"

    out = np.asarray(load_image(path))
    palette = np.array(pal.getpalette()[: 3 * 32], dtype=np.uint8).reshape(-1, 3)
    expected = palette[index]
    expected[index == transparent] = 255
    assert (index == transparent).sum() > 0 and (index != transparent).sum() > 0
    np.testing.assert_array_equal(out, expected)


def test_cmyk_tiff_is_converted(tmp_path):
    rng = np.random.default_rng(0)
    cmyk = rng.integers(0, 256, size=(16, 24, 4), dtype=np.uint8)
    path = tmp_path / "cmyk.tif"
    Image.frombytes("CMYK", (24, 16), cmyk.tobytes()).save(path)

    out = np.asarray(load_image(path)).astype(float)
    c = cmyk.astype(float)
    expected = (255 - c[..., :3]) * (255 - c[..., 3:]) / 255  # naive CMYK -> RGB
    assert np.abs(out - expected).max() <= 1.0


def test_grayscale_and_bilevel_images_are_replicated_to_rgb(tmp_path, chelsea):
    gray = chelsea[..., 0]
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    out = np.asarray(load_image(path))
    assert out.shape == (*gray.shape, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], gray)

    bits = gray > 128
    bilevel = Image.fromarray(bits)
    assert bilevel.mode == "1"
    out = np.asarray(load_image(bilevel))
    np.testing.assert_array_equal(out[..., 0], np.where(bits, 255, 0))


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535], [1000, 30000, 50000, 65280]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    raw = path.read_bytes()
    assert raw[12:16] == b"IHDR" and raw[24] == 16  # the file really has bit depth 16

    out = np.asarray(load_image(path))
    expected = np.rint(values.astype(float) * 255 / 65535)
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 2], expected)
    assert out[0, 2, 0] == 128  # clipping would give 255


def test_float_image_in_unit_range_is_scaled(astronaut):
    unit = astronaut[..., 0].astype(np.float32) / 255
    out = np.asarray(load_image(Image.fromarray(unit, mode="F")))
    np.testing.assert_array_equal(out[..., 1], astronaut[..., 0])


def test_exif_orientation_6_is_applied(tmp_path, coffee):
    stored = coffee.copy()  # 400 x 600 (H x W)
    stored[:60, :60] = (255, 0, 0)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())

    img = load_image(path)
    assert img.size == (400, 600)  # (W, H) transposed
    out = np.asarray(img).astype(int)
    # Turning the stored picture clockwise moves its top-left corner to the top-right.
    corner = out[10:50, -50:-10].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 200 and corner[1] < 60 and corner[2] < 60
    clockwise = np.rot90(stored, k=-1).astype(int)
    assert np.abs(out - clockwise).mean() < 4


def test_animated_gif_gives_first_frame(tmp_path):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.new("RGB", (20, 10), c) for c in colours]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    with Image.open(path) as check:
        assert check.n_frames == 3

    out = np.asarray(load_image(path))
    assert out.shape == (10, 20, 3)
    assert (np.abs(out.astype(int) - colours[0]) <= 2).all()


def test_gray_and_rgba_arrays(coffee):
    gray = coffee[..., 2]
    out = np.asarray(load_image(gray))
    np.testing.assert_array_equal(out[..., 0], gray)
    rgba = np.dstack([coffee, np.zeros(coffee.shape[:2], np.uint8)])
    assert (np.asarray(load_image(rgba)) == 255).all()


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_bad_arrays_are_refused(array, fragment):
    _assert_load_error(array, fragment, argument="init_image", name="init_image")


def test_unsupported_source_type_is_refused():
    _assert_load_error(12345, "expected a path")


# ------------------------------------------------------------------------------------------
# load_image: bad files


def test_truncated_jpeg(tmp_path, astronaut):
    full = tmp_path / "full.jpg"
    Image.fromarray(astronaut).save(full, quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    _assert_load_error(path, "truncated", value=str(path))
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_truncated_png_header(tmp_path, astronaut):
    path = tmp_path / "cut.png"
    path.write_bytes(_png_bytes(Image.fromarray(astronaut))[:20])
    _assert_load_error(path, "truncated", value=str(path))


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    _assert_load_error(path, "empty", value=str(path))
    _assert_load_error(b"", "empty")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 20)
    _assert_load_error(path, "not an image", value=str(path))


def test_format_outside_the_allowed_set_is_refused(tmp_path, chelsea):
    path = tmp_path / "picture.pcx"  # Pillow reads PCX, load_image must not
    Image.fromarray(chelsea).save(path)
    _assert_load_error(path, "not an image", value=str(path))


def test_directory_and_missing_path(tmp_path):
    _assert_load_error(tmp_path, "directory", value=str(tmp_path))
    missing = tmp_path / "nope.png"
    err = _assert_load_error(missing, "no such file", value=str(missing), name="init_image",
                             argument="init_image")
    assert str(missing) in str(err)


def test_pixel_bomb_header_is_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(20000, 20000))
    assert path.stat().st_size < 100
    start = time.perf_counter()
    err = _assert_load_error(path, "too many pixels", value=str(path))
    assert time.perf_counter() - start < 1.0
    # An attempt to decode would have failed on the missing data ("truncated"), not on size.
    assert "20000x20000" in err.problem and "400 MP" in err.problem and "50 MP" in err.problem


@pytest.mark.parametrize("side", [8000, 10000])  # 64 MP (below Pillow's warning), 100 MP (above)
def test_header_over_the_cap_but_under_pillows_limit(side):
    err = _assert_load_error(_png_header_only(side, side), "too many pixels")
    assert f"{side}x{side}" in err.problem


def test_max_pixels_is_respected_and_validated(astronaut):
    err = _assert_load_error(astronaut, "too many pixels", max_pixels=512 * 512 - 1)
    assert "512x512" in err.problem
    assert load_image(astronaut, max_pixels=512 * 512).size == (512, 512)
    for bad in (0, -5, 1.5, True):
        with pytest.raises(InputError) as info:
            load_image(astronaut, max_pixels=bad)
        assert info.value.argument == "max_pixels"


def test_max_pixels_above_pillows_own_limit_reports_pillows_limit():
    err = _assert_load_error(_png_header_only(20000, 20000), "too many pixels",
                             max_pixels=10**9)
    assert "Pillow" in err.problem
    assert DEFAULT_MAX_PIXELS < Image.MAX_IMAGE_PIXELS


# ------------------------------------------------------------------------------------------
# load_images, find_images


def test_load_images_accounts_for_every_item_once(tmp_path, astronaut, coffee):
    good_a = tmp_path / "a.png"
    Image.fromarray(astronaut).save(good_a)
    good_b = tmp_path / "b.jpg"
    Image.fromarray(coffee).save(good_b)
    text = tmp_path / "text.png"
    text.write_text("hello")
    empty = tmp_path / "empty.jpg"
    empty.touch()
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(20000, 20000))
    missing = tmp_path / "missing.png"
    inputs = [good_a, missing, text, good_b, tmp_path, empty, bomb, good_a]

    result = load_images([str(p) for p in inputs])
    assert [p for p, _ in result.images] == [good_a, good_b, good_a]
    assert [p for p, _ in result.failed] == [missing, text, tmp_path, empty, bomb]
    assert Counter(p for p, _ in result.images + result.failed) == Counter(inputs)
    assert all(reason for _, reason in result.failed)
    np.testing.assert_array_equal(np.asarray(result.images[1][1]).shape, coffee.shape)


def test_load_images_refuses_a_single_path(tmp_path):
    with pytest.raises(InputError) as info:
        load_images(str(tmp_path))
    assert info.value.argument == "paths"


def test_find_images(tmp_path):
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    names = ["b.png", "A.JPG", "c.JpEg", "d.webp", "e.gif", "notes.txt", ".hidden.png",
             "sub/x.PNG", "sub/deeper/y.tiff", "sub/z.bmp", ".hidden_dir/h.png", "sub.png"]
    for name in names:
        (root / name).write_bytes(b"x")
    (outside / "o.png").write_bytes(b"x")
    os.symlink(root, root / "sub" / "loop")          # a loop back to the top
    os.symlink(outside, root / "linked")             # a symlinked folder elsewhere
    os.symlink(root / "missing.png", root / "dangling.png")

    expected = [root / n for n in ["A.JPG", "b.png", "c.JpEg", "d.webp", "e.gif", "linked/o.png",
                                   "sub/deeper/y.tiff", "sub/x.PNG", "sub/z.bmp", "sub.png"]]
    assert find_images(root) == expected
    assert find_images(str(root)) == expected
    flat = [root / n for n in ["A.JPG", "b.png", "c.JpEg", "d.webp", "e.gif", "sub.png"]]
    assert find_images(root, recursive=False) == flat


def test_find_images_bad_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        find_images(tmp_path / "missing")
    file = tmp_path / "f.png"
    file.write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder") as info:
        find_images(file)
    assert info.value.argument == "folder"


# ------------------------------------------------------------------------------------------
# image_digest


def test_image_digest_depends_on_pixels_only(tmp_path, chelsea):
    path = tmp_path / "cat.png"
    Image.fromarray(chelsea).save(path)
    from_png = load_image(path)
    from_array = load_image(chelsea)
    digest = image_digest(from_png)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == image_digest(from_array)

    changed = chelsea.copy()
    changed[123, 45, 2] ^= 1
    assert image_digest(load_image(changed)) != digest

    flat = np.zeros((4, 6, 3), np.uint8)
    assert image_digest(Image.fromarray(flat)) != image_digest(
        Image.fromarray(flat.reshape(6, 4, 3)))  # same bytes, other size
    assert image_digest(Image.fromarray(flat[..., 0])) != image_digest(
        Image.fromarray(np.zeros((4, 2, 3), np.uint8)))  # same bytes, other mode
    with pytest.raises(InputError):
        image_digest(chelsea)


# ------------------------------------------------------------------------------------------
# contact_sheet


def _find(sheet: np.ndarray, cell: np.ndarray) -> list[tuple[int, int]]:
    """All (x, y) where ``cell`` appears exactly in ``sheet`` (independent template search)."""
    h, w = cell.shape[:2]
    hits = []
    for y, x in np.argwhere((sheet == cell[0, 0]).all(axis=-1)):
        if y + h <= sheet.shape[0] and x + w <= sheet.shape[1] and \
                np.array_equal(sheet[y:y + h, x:x + w], cell):
            hits.append((int(x), int(y)))
    return hits


@pytest.fixture(scope="module")
def cell_grid(astronaut, coffee, chelsea) -> list[list[np.ndarray]]:
    """2 rows x 3 columns of distinct 40 x 30 crops of real photos."""
    crops = [astronaut[100:130, 200:240], astronaut[300:330, 50:90], coffee[150:180, 250:290],
             coffee[10:40, 400:440], chelsea[100:130, 150:190], chelsea[200:230, 300:340]]
    return [crops[:3], crops[3:]]


def test_contact_sheet_places_every_cell_on_a_regular_grid(cell_grid):
    pad = 5
    cells = [[Image.fromarray(c) for c in row] for row in cell_grid]
    sheet = contact_sheet(cells, row_labels=[0.0, 1.0], col_labels=np.linspace(-2, 2, 3),
                          title="astronaut to cat", pad=pad)
    assert sheet.mode == "RGB"
    out = np.asarray(sheet)
    positions = {}
    for r, row in enumerate(cell_grid):
        for c, cell in enumerate(row):
            hits = _find(out, cell)
            assert len(hits) == 1, (r, c, hits)
            positions[r, c] = hits[0]
    x0, y0 = positions[0, 0]
    for (r, c), (x, y) in positions.items():
        assert (x, y) == (x0 + c * (40 + pad), y0 + r * (30 + pad))
    width, height = sheet.size
    assert width == x0 + 3 * (40 + pad) and height == y0 + 2 * (30 + pad)
    assert (out[0, 0] == 255).all() and (out[-1, -1] == 255).all()  # white background
    # Labels are drawn: dark pixels above the first row and left of the first column.
    assert (out[:y0, x0:].min(axis=-1) < 128).any()
    assert (out[y0:, :x0].min(axis=-1) < 128).any()


def test_contact_sheet_fits_a_title_wider_than_the_grid(cell_grid):
    cells = [[Image.fromarray(cell_grid[0][0])]]
    title = "tiny (offline, random weights) · t = 0.5 · α = 1.5"
    sheet = contact_sheet(cells, row_labels=[0.5], col_labels=[1.5], title=title, pad=4)
    out = np.asarray(sheet)
    x0, y0 = _find(out, cell_grid[0][0])[0]
    band = out[:y0 - 1].min(axis=-1)  # the title and column label rows
    ink = np.flatnonzero((band < 128).any(axis=0))
    assert ink.size and ink[0] >= 2 and ink[-1] <= sheet.width - 3  # no glyph cut at an edge
    assert sheet.width > x0 + 40 + 4  # the canvas grew for the title


def test_contact_sheet_without_labels_is_tight(cell_grid):
    cells = [[Image.fromarray(c) for c in row] for row in cell_grid]
    sheet = contact_sheet(cells, pad=3)
    assert sheet.size == (3 + 3 * 43, 3 + 2 * 33)
    assert _find(np.asarray(sheet), cell_grid[0][0]) == [(3, 3)]


def test_contact_sheet_resizes_cells_keeping_aspect(coffee):
    square = Image.fromarray(coffee[:40, :40])
    wide = Image.new("RGB", (80, 40), (255, 0, 0))
    rgba = Image.new("RGBA", (40, 40), (0, 0, 255, 0))  # fully transparent
    sheet = np.asarray(contact_sheet([[square, wide, rgba]], cell_size=(40, 40), pad=4))
    [(x, y)] = _find(sheet, np.asarray(square))
    wide_cell = sheet[y:y + 40, x + 44:x + 84].astype(int)
    assert (wide_cell[:8] == 255).all() and (wide_cell[-8:] == 255).all()  # letterboxed
    assert (np.abs(wide_cell[12:28] - (255, 0, 0)) <= 2).all()
    assert (sheet[y:y + 40, x + 88:x + 128] == 255).all()  # transparency on white


def test_contact_sheet_default_cell_size_and_greek_titles(astronaut):
    big = Image.fromarray(astronaut).resize((1024, 1024))
    sheet = contact_sheet([[big]], pad=0)
    assert sheet.size == (512, 512)  # default cells are at most 512 on the long side
    cells = [[Image.fromarray(astronaut[:64, :64])] * 2]
    # The bundled DejaVu Sans draws α itself ...
    assert imaging._has_glyph("α")
    with_greek = contact_sheet(cells, col_labels=[0.5, 1], col_title="α")
    spelled = contact_sheet(cells, col_labels=[0.5, 1], col_title="alpha")
    assert not np.array_equal(np.asarray(with_greek), np.asarray(spelled))


def test_contact_sheet_spells_out_greek_with_the_builtin_font(astronaut, monkeypatch):
    # ... and without it Pillow's built-in font, which lacks Greek, gets "alpha" spelled out.
    for cached in (imaging._font, imaging._has_glyph):
        cached.cache_clear()
    monkeypatch.setattr(imaging, "_font_file", lambda: None)
    try:
        assert not imaging._has_glyph("α")
        cells = [[Image.fromarray(astronaut[:64, :64])] * 2]
        with_greek = contact_sheet(cells, col_labels=[0.5, 1], col_title="α")
        spelled = contact_sheet(cells, col_labels=[0.5, 1], col_title="alpha")
        np.testing.assert_array_equal(np.asarray(with_greek), np.asarray(spelled))
    finally:
        monkeypatch.undo()
        for cached in (imaging._font, imaging._has_glyph):
            cached.cache_clear()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"cells": []}, "cells"),
        ({"cells": [[0]]}, "cells[0][0]"),
        ({"cells": "ragged"}, "cells"),
        ({"row_labels": [1]}, "row_labels"),
        ({"col_labels": [1, 2, 3]}, "col_labels"),
        ({"col_labels": "ab"}, "col_labels"),
        ({"cell_size": 0}, "cell_size"),
        ({"cell_size": (10, -1)}, "cell_size"),
        ({"cell_size": 10_000}, "cell_size"),
        ({"pad": -1}, "pad"),
    ],
)
def test_contact_sheet_validation(kwargs, argument):
    img = Image.new("RGB", (8, 8))
    args = {"cells": [[img, img], [img, img]]}
    if kwargs.get("cells") == "ragged":
        kwargs = {"cells": [[img, img], [img]]}
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        contact_sheet(**args)
    assert info.value.argument == argument


# ------------------------------------------------------------------------------------------
# writing


def _frames() -> list[Image.Image]:
    colours = [(220, 20, 20), (20, 220, 20), (20, 20, 220), (220, 220, 20)]
    return [Image.new("RGB", (24, 16), c) for c in colours]


def _read_frames(path: Path) -> tuple[list[tuple[int, int, int]], list[int], dict]:
    with Image.open(path) as anim:
        colours, durations = [], []
        for i in range(anim.n_frames):
            anim.seek(i)
            colours.append(anim.convert("RGB").getpixel((12, 8)))
            durations.append(anim.info["duration"])
        return colours, durations, dict(anim.info)


def _close(a, b, tol=3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_save_gif_round_trip(tmp_path):
    frames = _frames()
    path = save_gif(frames, tmp_path / "out" / "anim.gif", duration_ms=120)
    assert path == tmp_path / "out" / "anim.gif"
    colours, durations, info = _read_frames(path)
    assert len(colours) == 4
    assert all(_close(c, f.getpixel((0, 0))) for c, f in zip(colours, frames, strict=True))
    assert durations == [120] * 4
    assert info["loop"] == 0
    assert os.listdir(path.parent) == ["anim.gif"]


def test_save_gif_boomerang(tmp_path):
    frames = _frames()
    colours, _, _ = _read_frames(save_gif(frames, tmp_path / "b.gif", boomerang=True))
    order = [0, 1, 2, 3, 2, 1]
    assert len(colours) == len(order)
    for got, i in zip(colours, order, strict=True):
        assert _close(got, frames[i].getpixel((0, 0)))


@pytest.mark.parametrize("suffix", [".webp", ".png"])
def test_save_animation_in_other_formats(tmp_path, suffix):
    colours, durations, _ = _read_frames(save_gif(_frames(), tmp_path / f"a{suffix}",
                                                  duration_ms=100))
    assert len(colours) == 4 and durations == [100] * 4


def test_save_gif_validation(tmp_path):
    frames = _frames()
    with pytest.raises(InputError, match="suffix"):
        save_gif(frames, tmp_path / "a.jpg")
    with pytest.raises(InputError) as info:
        save_gif([*frames, Image.new("RGB", (5, 5))], tmp_path / "a.gif")
    assert info.value.argument == "frames[4]"
    for kwargs in ({"duration_ms": 0}, {"loop": -1}):
        with pytest.raises(InputError):
            save_gif(frames, tmp_path / "a.gif", **kwargs)
    with pytest.raises(InputError):
        save_gif([], tmp_path / "a.gif")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix, exact", [(".png", True), (".PNG", True), (".jpg", False),
                                           (".jpeg", False), (".webp", False), (".gif", False)])
def test_save_image_formats(tmp_path, chelsea, suffix, exact):
    path = save_image(Image.fromarray(chelsea), tmp_path / f"cat{suffix}")
    with Image.open(path) as back:
        expected_format = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                           ".gif": "GIF"}[suffix.lower()]
        assert back.format == expected_format
        pixels = np.asarray(back.convert("RGB")).astype(int)
    if exact:
        np.testing.assert_array_equal(pixels, chelsea)
    else:
        assert np.abs(pixels - chelsea).mean() < 12
    assert os.listdir(tmp_path) == [path.name]


def test_save_image_rgba_to_jpeg_composites_on_white(tmp_path):
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    path = save_image(img, tmp_path / "x.jpg")
    assert (np.asarray(Image.open(path)) >= 250).all()


def test_save_image_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match=r"'\.bmp'") as info:
        save_image(Image.new("RGB", (4, 4)), tmp_path / "x.bmp")
    assert info.value.argument == "path"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", ["image", "gif"])
def test_failed_encoding_leaves_the_old_file_and_no_temp_files(tmp_path, monkeypatch, writer):
    target = tmp_path / ("old.png" if writer == "image" else "old.gif")
    target.write_bytes(b"previous contents")

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise OSError("encoder failed")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="encoder failed"):
        if writer == "image":
            save_image(Image.new("RGB", (4, 4)), target)
        else:
            save_gif(_frames(), target)
    assert target.read_bytes() == b"previous contents"
    assert os.listdir(tmp_path) == [target.name]


def test_thumbnail_keeps_aspect_and_never_enlarges(coffee):
    img = Image.fromarray(coffee)  # 600 x 400
    small = thumbnail(img, 150)
    assert max(small.size) == 150 and abs(small.height - 100) <= 1
    assert img.size == (600, 400)
    same = thumbnail(img, 1000)
    assert same.size == (600, 400) and same is not img
    with pytest.raises(InputError):
        thumbnail(img, 0)


def test_to_data_uri_decodes_back(chelsea):
    img = Image.fromarray(chelsea)
    uri = to_data_uri(img, fmt="PNG")
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    back = Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):], validate=True)))
    np.testing.assert_array_equal(np.asarray(back), chelsea)

    uri = to_data_uri(Image.new("RGBA", (300, 100), (0, 0, 0, 0)), max_side=60)
    prefix = "data:image/jpeg;base64,"
    assert uri.startswith(prefix)
    back = Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):], validate=True)))
    assert back.format == "JPEG" and back.size == (60, 20)
    assert (np.asarray(back) >= 250).all()
    with pytest.raises(InputError):
        to_data_uri(img, fmt="GIF")
