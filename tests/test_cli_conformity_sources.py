"""`vslerp conformity --images | --captions | --embeddings` end to end with the tiny encoder,
and the spreadsheet-safe CSV writer it uses.

Conformity is checked against a Gram-matrix oracle on embeddings computed here with the same
encoder; user errors must exit with code 2, print ``error: ...`` and write nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_user_error, read_csv, run
from PIL import Image

from vslerp.encoders import load_encoder
from vslerp.errors import InputError
from vslerp.imaging import load_image
from vslerp.means import ModalityMean
from vslerp.tabular import safe_csv_cell, write_csv_atomic
from vslerp.tiny.images import generated_images

CAPTIONS = [
    "a photo of a cat", "", "a red bus parked next to a brick wall", "=HYPERLINK(\"http://x\")",
    "+1+2", "-cmd|calc", "@SUM(A1)", "-0.5", "ünïcødé 猫 on a mat", "   ",
    "<script>alert(1)</script>", "two dogs, one ball",
]




def gram_conformity(X: np.ndarray) -> np.ndarray:
    U = X.astype(np.float64)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    G = U @ U.T
    return (G.sum(1) - np.diag(G)) / (len(U) - 1)



@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny", device="cpu")


@pytest.fixture()
def caps(tmp_path: Path) -> Path:
    path = tmp_path / "caps.txt"
    path.write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# captions


def test_captions_csv_summary_and_failed_items(tmp_path, caps, tiny):
    out, summary = tmp_path / "scores.csv", tmp_path / "summary.json"
    result = run("conformity", "--captions", caps, "--encoder", "tiny", "-o", out,
                 "--summary", summary)
    assert result.exit_code == 0, (result.output, result.exception)
    header, rows = read_csv(out)
    assert header == ["id", "item", "conformity", "estimated"]
    kept = [(str(i + 1), c) for i, c in enumerate(CAPTIONS) if c.strip()]
    assert [r[0] for r in rows] == [i for i, _ in kept]
    X = tiny.encode_texts([c for _, c in kept])
    np.testing.assert_allclose([float(r[2]) for r in rows], gram_conformity(X), atol=1e-5)
    info = json.loads(summary.read_text())
    assert info["failed"] == [{"id": "2", "reason": "empty caption"},
                              {"id": "10", "reason": "empty caption"}]
    assert info["source"] == {"kind": "captions", "path": str(caps), "name": "caps",
                              "items": len(CAPTIONS), "scored": len(kept), "failed": 2}
    assert info["encoder"] == "tiny" and info["n"] == len(kept)
    assert "2 of 12 items could not be scored" in result.stderr
    assert "  2: empty caption" in result.stderr and "  10: empty caption" in result.stderr


def test_csv_cells_are_neutralised_against_formula_injection(tmp_path, caps):
    out = tmp_path / "scores.csv"
    assert run("conformity", "--captions", caps, "--encoder", "tiny", "-o", out).exit_code == 0
    items = {r[0]: r[1] for r in read_csv(out)[1]}
    assert items["4"] == "'=HYPERLINK(\"http://x\")"
    assert items["5"] == "'+1+2" and items["6"] == "'-cmd|calc" and items["7"] == "'@SUM(A1)"
    assert items["8"] == "-0.5"  # a plain number carries no formula
    assert items["11"] == "<script>alert(1)</script>" and items["12"] == "two dogs, one ball"
    assert items["9"] == "ünïcødé 猫 on a mat"


def test_caption_csv_with_a_named_column(tmp_path, tiny):
    path = tmp_path / "captions.csv"
    path.write_text("file,alt,caption\na.png,a cat,ignored\nb.png,a dog,ignored\n"
                    "c.png,a bus,ignored\n")
    out = tmp_path / "s.csv"
    result = run("conformity", "--captions", path, "--caption-column", "alt", "--encoder", "tiny",
                 "-o", out)
    assert result.exit_code == 0, result.output
    _, rows = read_csv(out)
    assert [r[1] for r in rows] == ["a cat", "a dog", "a bus"]
    X = tiny.encode_texts(["a cat", "a dog", "a bus"])
    np.testing.assert_allclose([float(r[2]) for r in rows], gram_conformity(X), atol=1e-5)


def test_captions_against_a_reference_mean(tmp_path, caps, tiny):
    reference = ["a photo of a dog", "a bowl of fruit", "a mountain lake", "a city street"]
    R = tiny.encode_texts(reference)
    mean_path = tmp_path / "ref.safetensors"
    ModalityMean.from_embeddings(R, encoder="tiny", modality="text").save(mean_path)
    out = tmp_path / "s.csv"
    result = run("conformity", "--captions", caps, "--encoder", "tiny", "--reference", mean_path,
                 "-o", out)
    assert result.exit_code == 0, result.output
    kept = [c for c in CAPTIONS if c.strip()]
    X = tiny.encode_texts(kept)
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    Ru = R / np.linalg.norm(R, axis=1, keepdims=True)
    _, rows = read_csv(out)
    np.testing.assert_allclose([float(r[2]) for r in rows], (Xu @ Ru.T).mean(1), atol=1e-5)


# --------------------------------------------------------------------------------------------
# images


def test_image_folder_with_unreadable_files(tmp_path, tiny):
    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    good = generated_images(4, 48, seed=1)
    names = ["a.png", "sub/b.png", "=c.png", "d.jpg"]
    for name, img in zip(names, good, strict=True):
        img.save(folder / name)
    (folder / "broken.png").write_bytes((folder / "a.png").read_bytes()[:60])
    (folder / "sub" / "notes.png").write_text("plain text")
    out, summary = tmp_path / "scores.csv", tmp_path / "s.json"
    result = run("conformity", "--images", folder, "--encoder", "tiny", "-o", out,
                 "--summary", summary, "--batch-size", "3")
    assert result.exit_code == 0, (result.output, result.exception)
    header, rows = read_csv(out)
    assert header == ["id", "item", "conformity", "estimated"]
    order = sorted(names, key=lambda n: Path(n).parts)
    assert [r[0] for r in rows] == ["'=c.png" if n == "=c.png" else n for n in order]
    assert [r[1] for r in rows] == ["'=c.png" if n == "=c.png" else Path(n).name for n in order]
    X = tiny.encode_images([load_image(folder / n) for n in order])
    np.testing.assert_allclose([float(r[2]) for r in rows], gram_conformity(X), atol=1e-5)
    failed = {f["id"]: f["reason"] for f in json.loads(summary.read_text())["failed"]}
    assert set(failed) == {"broken.png", "sub/notes.png"}
    assert "not an image" in failed["sub/notes.png"]
    assert "broken.png:" in result.stderr and "sub/notes.png: not an image" in result.stderr


def test_work_dir_resumes_and_gives_identical_output(tmp_path, caps):
    work = tmp_path / "work"
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    assert run("conformity", "--captions", caps, "--encoder", "tiny", "--work-dir", work,
               "-o", first).exit_code == 0
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["complete"] is True
    shards = {p: p.stat().st_mtime_ns for p in work.glob("shard-*.npz")}
    assert shards
    assert run("conformity", "--captions", caps, "--encoder", "tiny", "--work-dir", work,
               "-o", second).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    assert {p: p.stat().st_mtime_ns for p in work.glob("shard-*.npz")} == shards


# --------------------------------------------------------------------------------------------
# embeddings (the original form of the command)


def test_embeddings_keep_three_columns_and_file_ids(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(6, 8)) + 3).astype(np.float32)
    np.savez(tmp_path / "x.npz", embeddings=X,
             ids=np.array(["=a", "b", "c", "d", "e", "f"]))
    out, summary = tmp_path / "s.csv", tmp_path / "s.json"
    result = run("conformity", "--embeddings", tmp_path / "x.npz", "-o", out, "--summary",
                 summary)
    assert result.exit_code == 0, result.output
    header, rows = read_csv(out)
    assert header == ["id", "conformity", "estimated"]
    assert [r[0] for r in rows] == ["'=a", "b", "c", "d", "e", "f"]
    np.testing.assert_allclose([float(r[1]) for r in rows], gram_conformity(X), atol=1e-6)
    info = json.loads(summary.read_text())
    assert info["failed"] == [] and info["embeddings"] == str(tmp_path / "x.npz")


# --------------------------------------------------------------------------------------------
# user errors: exit 2, a message naming the problem, nothing written


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_source_choice_errors(tmp_path, caps):
    out = tmp_path / "out" / "s.csv"
    assert_user_error(run("conformity", "-o", out), "give exactly one source")
    assert_user_error(run("conformity", "--captions", caps, "--images", tmp_path, "-o", out),
                      "--images", "--captions")
    assert_user_error(run("conformity", "--images", tmp_path, "--caption-column", "x",
                          "-o", out), "--captions only")
    np.save(tmp_path / "x.npy", np.ones((3, 4), np.float32))
    assert_user_error(run("conformity", "-e", tmp_path / "x.npy", "--encoder", "tiny",
                          "-o", out), "do not apply to --embeddings")
    assert_user_error(run("conformity", "--captions", tmp_path / "x.npy", "--encoder", "tiny",
                          "-o", out), "unsupported caption file format")
    assert not out.parent.exists()


def test_bad_encoder_source_and_reference_errors(tmp_path, caps, tiny):
    out = tmp_path / "out" / "s.csv"
    assert_user_error(run("conformity", "--captions", caps, "--encoder", "dino:v2", "-o", out),
                      "unknown encoder", "tiny")
    assert_user_error(run("conformity", "--captions", tmp_path / "missing.txt", "--encoder",
                          "tiny", "-o", out), "missing.txt")
    bad_csv = tmp_path / "c.csv"
    bad_csv.write_text("file,title\na.png,hello\n")
    assert_user_error(run("conformity", "--captions", bad_csv, "--encoder", "tiny", "-o", out),
                      "caption", "file, title")
    X = tiny.encode_texts(["a", "b", "c"])
    ModalityMean.from_embeddings(X, encoder="tiny", modality="image").save(
        tmp_path / "img.safetensors")
    assert_user_error(run("conformity", "--captions", caps, "--encoder", "tiny", "--reference",
                          tmp_path / "img.safetensors", "-o", out), "image mean", "text")
    ModalityMean.from_embeddings(X, encoder="openclip:ViT-B-32/openai", modality="text").save(
        tmp_path / "other.safetensors")
    assert_user_error(run("conformity", "--captions", caps, "--encoder", "tiny", "--reference",
                          tmp_path / "other.safetensors", "-o", out),
                      "--encoder openclip:ViT-B-32/openai")
    ModalityMean.from_embeddings(np.ones((2, 5)) + np.eye(2, 5), encoder="tiny",
                                 modality="text").save(tmp_path / "d5.safetensors")
    assert_user_error(run("conformity", "--captions", caps, "--encoder", "tiny", "--reference",
                          tmp_path / "d5.safetensors", "-o", out), "D=5", "D=32")
    assert not out.parent.exists()


def test_default_encoder_offline_fails_fast_with_a_hint(tmp_path, caps, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "s.csv"
    assert_user_error(run("conformity", "--captions", caps, "-o", out),
                      "ViT-B-32/openai", "--encoder tiny")
    assert not out.exists()


def test_text_only_encoder_on_images_is_refused(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    out = tmp_path / "s.csv"
    assert_user_error(run("conformity", "--images", folder, "--encoder", "st:all-MiniLM-L6-v2",
                          "-o", out), "cannot embed images", "text only")
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# the CSV writer


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+A1", "'+A1"), ("-A1", "'-A1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-1.5e3", "-1.5e3"), ("+3", "+3"), ("-", "'-"),
    ("a=b", "a=b"), ("", ""), (None, ""), (True, "true"), (3, 3), (-0.25, "-0.25"),
    (float("nan"), ""), (np.float32(0.5), "0.5"), (np.int64(7), 7), (Path("=x.png"), "'=x.png"),
])
def test_safe_csv_cell(value, cell):
    assert safe_csv_cell(value) == cell


def test_write_csv_atomic_round_trips_and_refuses_ragged_rows(tmp_path):
    path = tmp_path / "t.csv"
    rows = [["=x", 0.1, "multi\nline, \"quoted\""], ["-2", -3.5, None]]
    write_csv_atomic(path, ["id", "value", "text"], rows)
    header, got = read_csv(path)
    assert header == ["id", "value", "text"]
    assert got == [["'=x", "0.1", "multi\nline, \"quoted\""], ["-2", "-3.5", ""]]
    assert float(got[0][1]) == 0.1  # repr round-trips exactly
    path.write_text("old\n")
    with pytest.raises(InputError, match="has 2 cells; the header has 3"):
        write_csv_atomic(path, ["a", "b", "c"], [[1, 2, 3], [1, 2]])
    assert path.read_text() == "old\n" and _only(tmp_path) == ["t.csv"]
