"""`vslerp rank` end to end on generated images and captions with the tiny encoder.

Scores are checked against conformity computed here from the tiny encoder's own embeddings;
bad inputs must either become failed items (bad files inside a folder) or stop the command with
exit code 2, an ``error: ...`` line and no report.
"""

from __future__ import annotations

import csv
import html
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_user_error, run
from PIL import Image
from skimage import data

import vslerp.cli.rank  # noqa: F401  (registers `vslerp rank`)
from vslerp.encoders import load_encoder
from vslerp.encoders.hf import HFClipEncoder
from vslerp.imaging import load_image, save_image
from vslerp.tiny import generated_images

REPORT_FILES = {"report.html", "histogram.png", "cdf.png", "ranking.csv", "ranking.json",
                "scores.csv"}




def report_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def png_header_only(width: int, height: int) -> bytes:
    """PNG signature + IHDR claiming ``width x height`` RGB and an empty IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))


def save_all(folder: Path, images) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        save_image(im, folder / f"{i:03d}.png")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("rank_inputs")
    save_all(root / "real", generated_images(16, 40, seed=1))
    save_all(root / "varied", generated_images(10, 40, seed=2))
    base = np.asarray(generated_images(1, 40, seed=3)[0], dtype=np.int16)
    rng = np.random.default_rng(0)
    save_all(root / "dupes", [Image.fromarray(np.clip(base + rng.integers(-3, 4, base.shape),
                                                      0, 255).astype(np.uint8))
                              for _ in range(10)])
    # a folder of odd files: the good ones embed, the bad ones become failed items
    mixed = root / "mixed"
    save_all(mixed, generated_images(3, 40, seed=4))
    coffee = data.coffee()[::4, ::4]
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(mixed / "rgba.png")
    Image.fromarray(coffee).convert("CMYK").save(mixed / "cmyk.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(coffee).save(mixed / "rotated.jpg", quality=90, exif=exif.tobytes())
    full = mixed / "full.jpg"
    Image.fromarray(data.astronaut()[::2, ::2]).save(full, quality=90)
    (mixed / "truncated.jpg").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    (mixed / "zero.png").write_bytes(b"")
    (mixed / "text.png").write_text("this is not an image")
    (mixed / "bomb.png").write_bytes(png_header_only(20000, 20000))
    (mixed / "notes.txt").write_text("ignored: not an image suffix")
    bad_only = root / "bad_only"
    bad_only.mkdir()
    (bad_only / "a.png").write_text("not an image")
    (bad_only / "b.jpg").write_bytes(b"")
    (root / "empty").mkdir()
    return root


@pytest.fixture(scope="module")
def ranked(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("rank_out") / "report"
    result = run("rank", "--reference", f"real={folders / 'real'}",
                 "--source", folders / "varied", "--source", f"near-duplicates={folders / 'dupes'}",
                 "--source", folders / "mixed", "--encoder", "tiny", "--batch-size", 8, "-o", out)
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result


def unit(X) -> np.ndarray:
    X = np.asarray(X, np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_rank_writes_the_report_and_prints_the_table(ranked):
    out, result = ranked
    assert report_files(out) >= REPORT_FILES
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["rank", "source"]
    assert any(line.split()[:2] == ["ref", "real"] for line in lines)
    assert f"report: {out / 'report.html'}" in result.stdout
    data_ = json.loads((out / "ranking.json").read_text(encoding="utf-8"))
    names = [row["name"] for row in data_["sources"]]
    assert names[0] == "real" and set(names) == {"real", "varied", "near-duplicates", "mixed"}
    assert sorted(row["rank"] for row in data_["sources"]) == [0, 1, 2, 3]
    assert data_["encoder"] == {"id": "tiny", "dim": 32}


def test_scores_match_conformity_computed_from_the_tiny_encoder(ranked, folders):
    out, _ = ranked
    enc = load_encoder("tiny")

    def embed(folder: Path) -> tuple[list[str], np.ndarray]:
        files = sorted(folder.glob("*.png"))
        return [f.name for f in files], enc.encode_images([load_image(f) for f in files])

    _, ref = embed(folders / "real")
    names, dupes = embed(folders / "dupes")
    with (out / "scores.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_source: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    cos = unit(ref) @ unit(ref).T
    expected_ref = (cos.sum(1) - 1.0) / (len(ref) - 1)
    np.testing.assert_allclose([float(r["conformity"]) for r in by_source["real"]],
                               expected_ref, atol=2e-5)
    expected_dupes = (unit(dupes) @ unit(ref).T).mean(axis=1)
    got = by_source["near-duplicates"]
    assert [r["item"] for r in got] == names
    np.testing.assert_allclose([float(r["conformity"]) for r in got], expected_dupes, atol=2e-5)


def test_odd_files_become_failed_items_with_reasons(ranked):
    out, _ = ranked
    data_ = json.loads((out / "ranking.json").read_text(encoding="utf-8"))
    failed = {item["id"]: item["reason"] for item in data_["failed"]["mixed"]}
    assert set(failed) == {"truncated.jpg", "zero.png", "text.png", "bomb.png"}
    assert "truncated" in failed["truncated.jpg"]
    assert "empty" in failed["zero.png"]
    assert "not an image" in failed["text.png"]
    assert "too many pixels" in failed["bomb.png"]
    mixed = next(row for row in data_["sources"] if row["name"] == "mixed")
    assert mixed["n"] == 6 and mixed["failed"] == 4  # 3 generated + RGBA + CMYK + rotated
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "4 items could not be embedded" in html


def test_rerunning_reuses_the_finished_shards(ranked, folders, monkeypatch):
    out, first = ranked
    calls = []
    original = HFClipEncoder._image_batch

    def counting(self, images):
        calls.append(len(images))
        return original(self, images)

    monkeypatch.setattr(HFClipEncoder, "_image_batch", counting)
    again = run("rank", "--reference", f"real={folders / 'real'}",
                "--source", folders / "varied", "--source",
                f"near-duplicates={folders / 'dupes'}", "--source", folders / "mixed",
                "--encoder", "tiny", "--batch-size", 8, "-o", out)
    assert again.exit_code == 0, again.output
    assert calls == []  # every shard came from OUTPUT/.work
    assert again.stdout == first.stdout


def test_text_sources_rank_captions(tmp_path):
    human = tmp_path / "human.txt"
    human.write_text("\n".join(f"a {c} dog runs across a {p} field" for c, p in
                               [("brown", "green"), ("black", "muddy"), ("small", "snowy"),
                                ("white", "wide"), ("big", "sunny"), ("young", "dry")]) + "\n",
                     encoding="utf-8")
    generic = tmp_path / "generic.jsonl"
    generic.write_text("\n".join(json.dumps({"id": f"g{i}", "caption": "a photo of a dog"})
                                 for i in range(5)) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    result = run("rank", "-r", human, "-s", f"template={generic}", "--encoder", "tiny",
                 "-o", out)
    assert result.exit_code == 0, (result.output, result.exception)
    data_ = json.loads((out / "ranking.json").read_text(encoding="utf-8"))
    template = next(row for row in data_["sources"] if row["name"] == "template")
    assert template["n"] == 5 and template["std_conformity"] == pytest.approx(0.0, abs=1e-6)
    page = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "“a photo of a dog”" in page


@pytest.mark.parametrize("case", ["empty_folder", "all_failed", "duplicate_names",
                                  "unknown_encoder", "missing_path", "dims", "modality",
                                  "text_encoder", "output_is_file"])
def test_bad_input_stops_with_exit_code_2_and_no_report(case, folders, tmp_path):
    out = tmp_path / "report"
    real = f"real={folders / 'real'}"
    args: list = ["rank", "--reference", real, "--encoder", "tiny", "-o", out]
    if case == "empty_folder":
        args += ["--source", folders / "empty"]
        expected = ["no images found"]
    elif case == "all_failed":
        args += ["--source", folders / "bad_only"]
        expected = ["bad_only", "every item failed"]
    elif case == "duplicate_names":
        args += ["--source", f"x={folders / 'varied'}", "--source", f"x={folders / 'dupes'}"]
        expected = ["duplicate source name 'x'"]
    elif case == "unknown_encoder":
        args[args.index("tiny")] = "nonsense:thing"
        args += ["--source", folders / "varied"]
        expected = ["unknown encoder"]
    elif case == "missing_path":
        args += ["--source", f"gen={tmp_path / 'nowhere'}"]
        expected = ["nowhere"]
    elif case == "dims":
        rng = np.random.default_rng(0)
        np.save(tmp_path / "a.npy", rng.standard_normal((5, 8)).astype(np.float32) + 3)
        np.save(tmp_path / "b.npy", rng.standard_normal((5, 16)).astype(np.float32) + 3)
        args = ["rank", "-r", tmp_path / "a.npy", "-s", tmp_path / "b.npy", "-o", out]
        expected = ["D=16", "D=8"]
    elif case == "modality":
        (tmp_path / "caps.txt").write_text("a cat\na dog\n", encoding="utf-8")
        args += ["--source", tmp_path / "caps.txt"]
        expected = ["holds texts", "holds images"]
    elif case == "text_encoder":
        args[args.index("tiny")] = "st:all-MiniLM-L6-v2"
        args += ["--source", folders / "varied"]
        expected = ["cannot embed images", "text only"]
    else:
        out.write_text("I am a file")
        args += ["--source", folders / "varied"]
        expected = ["exists and is not a folder"]
    assert_user_error(run(*args), *expected, progress_first=True)
    if case == "output_is_file":
        assert out.read_text() == "I am a file"
    else:
        assert not REPORT_FILES & report_files(out)
    if case in ("modality", "text_encoder", "duplicate_names", "empty_folder"):
        assert not (out / ".work").exists()  # refused before anything was embedded


def test_installed_console_script(tmp_path):
    rng = np.random.default_rng(1)
    centre = rng.standard_normal(16) * 2
    for name, spread in (("real", 1.0), ("gen", 0.5)):
        np.save(tmp_path / f"{name}.npy",
                (centre + spread * rng.standard_normal((40, 16))).astype(np.float32))
    exe = Path(sys.executable).with_name("vslerp")
    out = tmp_path / "report"
    ok = subprocess.run([str(exe), "rank", "-r", str(tmp_path / "real.npy"), "-s",
                         str(tmp_path / "gen.npy"), "-o", str(out)], capture_output=True,
                        text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert report_files(out) >= REPORT_FILES
    data_ = json.loads((out / "ranking.json").read_text(encoding="utf-8"))
    assert data_["encoder"]["id"] is None  # plain .npy files record no encoder
    gen = next(row for row in data_["sources"] if row["name"] == "gen")
    assert gen["rank"] == 1 and gen["mean_conformity"] > data_["sources"][0]["mean_conformity"]
