"""Sources: image folders, caption files (.txt, .jsonl, .csv, MS-COCO .json), embedding files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vslerp.errors import InputError
from vslerp.sources import EMPTY_CAPTION, Source, open_source, parse_named_path


def _png(path, colour=(10, 20, 30), size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# --------------------------------------------------------------------------------------------
# image folders


def test_image_folder_is_recursive_sorted_with_relative_ids(tmp_path):
    root = tmp_path / "generated"
    for rel in ["b.png", "a.jpg", "sub/z.webp", "sub/deeper/c.PNG", "sub/a.bmp"]:
        if rel.lower().endswith(".png") or rel.endswith(".bmp"):
            _png(root / rel)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            fmt = {"jpg": "JPEG", "webp": "WEBP"}[rel.rsplit(".", 1)[1]]
            Image.new("RGB", (8, 8)).save(root / rel, format=fmt)
    (root / "notes.txt").write_text("not an image")
    _png(root / ".hidden.png")
    _png(root / ".cache" / "x.png")
    src = open_source(root)
    assert isinstance(src, Source) and src.modality == "image" and src.name == "generated"
    ids = [item.id for item in src.items]
    assert ids == ["a.jpg", "b.png", "sub/a.bmp", "sub/deeper/c.PNG", "sub/z.webp"]
    assert [item.label for item in src.items] == ["a.jpg", "b.png", "a.bmp", "c.PNG", "z.webp"]
    assert all(item.path == root / item.id for item in src.items)
    assert all(item.text is None and item.problem is None for item in src.items)
    assert open_source(root, name="glide").name == "glide"
    assert open_source(root, modality="image").items == src.items


def test_empty_image_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no pictures")
    with pytest.raises(InputError, match="no images found"):
        open_source(tmp_path / "empty")


# --------------------------------------------------------------------------------------------
# .txt


def test_txt_every_line_is_an_item_blank_lines_fail_as_empty_captions(tmp_path):
    raw = "\ufeffa photo of a cat\r\n\r\n  a dog on a sofa  \n\t\nthird =1+1\n"
    path = tmp_path / "captions.txt"
    path.write_bytes(raw.encode("utf-8"))
    src = open_source(path)
    assert src.modality == "text" and src.name == "captions"
    lines = raw.lstrip("\ufeff").splitlines()  # oracle: Python's own line splitting
    assert len(src.items) == len(lines) == 5
    assert [item.id for item in src.items] == ["1", "2", "3", "4", "5"]
    assert [item.text for item in src.items] == [line.strip() for line in lines]
    assert [item.problem for item in src.items] == [None, EMPTY_CAPTION, None, EMPTY_CAPTION,
                                                    None]
    assert src.items[4].label == "third =1+1"  # kept verbatim (CSV escaping is the writer's job)


def test_txt_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\nbroken \xff here\n")
    with pytest.raises(InputError, match="line 3: not valid UTF-8"):
        open_source(path)


def test_empty_caption_file_is_refused(tmp_path):
    (tmp_path / "none.txt").write_text("")
    with pytest.raises(InputError, match="no captions"):
        open_source(tmp_path / "none.txt")


# --------------------------------------------------------------------------------------------
# .jsonl


def test_jsonl_fields_ids_and_blank_lines(tmp_path):
    records = [{"caption": "a cat", "id": 7}, {"text": "a dog"}, {"caption": ""},
               {"caption": None, "id": "x"}]
    text = "\n".join(json.dumps(r) for r in records[:2]) + "\n\n" + \
        "\n".join(json.dumps(r) for r in records[2:]) + "\n"
    path = tmp_path / "caps.jsonl"
    path.write_text(text)
    src = open_source(path)
    assert [i.id for i in src.items] == ["7", "2", "4", "x"]  # own ids, else line numbers
    assert [i.text for i in src.items] == ["a cat", "a dog", "", ""]
    assert [i.problem for i in src.items] == [None, None, EMPTY_CAPTION, EMPTY_CAPTION]


def test_jsonl_named_caption_column(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"caption": "wrong", "alt": "right"}\n')
    assert open_source(path, caption_column="alt").items[0].text == "right"
    with pytest.raises(InputError) as err:
        open_source(path, caption_column="missing")
    assert err.value.argument == "caption_column" and "line 1" in str(err.value)


@pytest.mark.parametrize("lines, match", [
    (['{"caption": "ok"}', '{"caption": "oops"', '{"caption": "x"}'], "line 2: malformed JSON"),
    (['{"caption": "ok"}', '["a list"]'], "line 2: expected a JSON object"),
    (['{"caption": "ok"}', '{"title": "no caption"}'], "line 2.*none of caption, text"),
    (['{"caption": 42}'], "line 1: caption is a int"),
    (['{"caption": "a", "id": 1}', '{"caption": "b", "id": "1"}'], "duplicate id '1'"),
    (['{"caption": "a", "id": [1]}'], "line 1: 'id' must be"),
])
def test_jsonl_errors_name_the_line(tmp_path, lines, match):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=match):
        open_source(path)


# --------------------------------------------------------------------------------------------
# .csv


def test_csv_default_column_ids_and_quoting(tmp_path):
    path = tmp_path / "caps.csv"
    path.write_text('image,Caption,score\n'
                    'a.png,"a cat, sitting",1\n'
                    'b.png,"two\nlines",2\n'
                    'c.png,,3\n'
                    'd.png,=cmd|calc,4\n', encoding="utf-8")
    src = open_source(path)
    assert [i.id for i in src.items] == ["1", "2", "3", "4"]
    assert [i.text for i in src.items] == ["a cat, sitting", "two\nlines", "", "=cmd|calc"]
    assert src.items[2].problem == EMPTY_CAPTION


def test_csv_id_column_and_explicit_caption_column(tmp_path):
    path = tmp_path / "caps.csv"
    path.write_text("id,sentence,text\nq1,first,other\nq2,second,more\n")
    src = open_source(path, caption_column="sentence")
    assert [(i.id, i.text) for i in src.items] == [("q1", "first"), ("q2", "second")]
    # default: the first of caption, text, sentence that is present
    assert [i.text for i in open_source(path).items] == ["other", "more"]


def test_csv_without_the_column_is_refused_listing_columns(tmp_path):
    path = tmp_path / "caps.csv"
    path.write_text("image,title\na.png,hello\n")
    with pytest.raises(InputError) as err:
        open_source(path)
    assert err.value.argument == "caption_column" and "image, title" in str(err.value)
    with pytest.raises(InputError, match=r"not in caps\.csv"):
        open_source(path, caption_column="caption")


@pytest.mark.parametrize("content, match", [
    ("", "no header"),
    ("caption\nok\n\"unterminated\n", "malformed CSV"),
    ("caption\na,b\n", "row 1: more cells"),
])
def test_malformed_csv(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        open_source(path)


# --------------------------------------------------------------------------------------------
# MS-COCO captions


def test_coco_captions_use_annotation_ids(tmp_path):
    data = {"info": {}, "images": [{"id": 1, "file_name": "x.jpg"}],
            "annotations": [{"image_id": 1, "id": 48, "caption": "A man riding a horse. "},
                            {"image_id": 1, "id": 67, "caption": "A horse and its rider."}]}
    path = tmp_path / "captions_val2017.json"
    path.write_text(json.dumps(data))
    src = open_source(path)
    assert [(i.id, i.text) for i in src.items] == [("48", "A man riding a horse."),
                                                   ("67", "A horse and its rider.")]


def test_coco_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "captions.json"
    path.write_text('{\n  "annotations": [\n    {"id": 1, "caption": "x"},,\n  ]\n}\n')
    with pytest.raises(InputError, match="line 3: malformed JSON"):
        open_source(path)


def test_json_that_is_not_coco_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"captions": ["a", "b"]}))
    with pytest.raises(InputError, match="MS-COCO"):
        open_source(path)


# --------------------------------------------------------------------------------------------
# embeddings


def test_npy_rows_are_ids(tmp_path):
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    src = open_source(tmp_path / "x.npy")
    assert src.modality == "embeddings" and [i.id for i in src.items] == ["0", "1", "2", "3"]
    assert [i.row for i in src.items] == [0, 1, 2, 3]
    np.testing.assert_array_equal(src.embeddings, X)


def test_npz_with_ids_and_safetensors_with_metadata(tmp_path):
    from safetensors.numpy import save_file

    X = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    np.savez(tmp_path / "x.npz", vectors=X, ids=np.array(["a.png", "b.png", "c.png"]))
    src = open_source(tmp_path / "x.npz")
    assert [i.id for i in src.items] == ["a.png", "b.png", "c.png"]
    np.testing.assert_array_equal(src.embeddings, X)
    save_file({"embeddings": X}, str(tmp_path / "x.safetensors"),
              metadata={"ids": json.dumps([10, 11, 12]), "encoder_id": "tiny"})
    st = open_source(tmp_path / "x.safetensors")
    assert [i.id for i in st.items] == ["10", "11", "12"] and st.encoder_id == "tiny"


def test_embeddings_id_count_mismatch_and_pickles_are_refused(tmp_path):
    X = np.ones((3, 2), np.float32)
    np.savez(tmp_path / "short.npz", embeddings=X, ids=np.array(["a", "b"]))
    with pytest.raises(InputError, match="2 ids for 3 rows"):
        open_source(tmp_path / "short.npz")
    np.savez(tmp_path / "obj.npz", embeddings=X, ids=np.array(["a", 1, None], dtype=object))
    with pytest.raises(InputError):
        open_source(tmp_path / "obj.npz")


# --------------------------------------------------------------------------------------------
# dispatch and arguments


def test_unknown_suffix_missing_path_and_modality_mismatch(tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputError, match=r"unknown suffix '\.parquet'"):
        open_source(tmp_path / "data.parquet")
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "nope.txt")
    (tmp_path / "c.txt").write_text("a cat\n")
    with pytest.raises(InputError, match="expected a folder of images"):
        open_source(tmp_path / "c.txt", modality="image")
    with pytest.raises(InputError, match=r"unsupported embeddings format '\.txt'"):
        open_source(tmp_path / "c.txt", modality="embeddings")
    with pytest.raises(InputError, match=r"unsupported caption file format '\.npy'"):
        np.save(tmp_path / "x.npy", np.ones((2, 2), np.float32))
        open_source(tmp_path / "x.npy", modality="text")
    with pytest.raises(InputError, match="is a folder"):
        open_source(tmp_path, modality="text")
    with pytest.raises(InputError):
        open_source(tmp_path / "c.txt", modality="video")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        open_source(tmp_path / "c.txt", caption_column="")
    with pytest.raises(InputError):
        open_source(42)  # type: ignore[arg-type]


def test_digest_is_stable_and_tracks_contents(tmp_path):
    caps = tmp_path / "c.txt"
    caps.write_text("a cat\na dog\n")
    d1, d2 = open_source(caps).digest(), open_source(caps).digest()
    caps.write_text("a cat\na dog!\n")
    assert d1 == d2 != open_source(caps).digest()
    folder = tmp_path / "imgs"
    img = _png(folder / "a.png")
    before = open_source(folder).digest()
    _png(img, colour=(200, 0, 0), size=(9, 8))
    stat = img.stat()
    os.utime(img, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert open_source(folder).digest() != before


def test_parse_named_path(tmp_path):
    assert parse_named_path("glide=out/glide") == ("glide", Path("out/glide"))
    assert parse_named_path(" real = coco ") == ("real", Path("coco"))
    assert parse_named_path("plain/folder") == (None, Path("plain/folder"))
    odd = tmp_path / "a=b"  # an existing path containing '=' is a bare path
    odd.mkdir()
    assert parse_named_path(str(odd)) == (None, odd)
    for bad, problem in [("", "NAME=PATH"), ("=x", "NAME"), ("x=", "PATH")]:
        with pytest.raises(InputError, match=problem) as info:
            parse_named_path(bad, "--reference")
        assert info.value.argument == "--reference"
