"""`vslerp geometry` end to end: images and captions through the tiny encoder, or precomputed
embedding files, into the geometry report; bad inputs exit with code 2 and write no report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_user_error, run

import vslerp.cli.geometry  # noqa: F401  (registers `vslerp geometry`)
from vslerp.encoders import load_encoder
from vslerp.geometry import analyze
from vslerp.imaging import load_image, save_image
from vslerp.tiny import generated_images

CAPTIONS = [
    "a red and white gradient", "a checkerboard of two colours", "soft blobs on a background",
    "smooth coloured noise", "a blue gradient at an angle", "a small green checkerboard",
    "three bright blobs", "cloudy purple noise", "an orange gradient", "a large checkerboard",
    "dim blobs on grey", "noisy texture in pastel colours",
]




@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("geometry_inputs")
    folder = root / "images"
    for i, im in enumerate(generated_images(len(CAPTIONS), 40, seed=5)):
        save_image(im, folder / f"{i:03d}.png")
    (folder / "broken.png").write_text("not an image")  # sorts last: item 12, no caption
    captions = root / "captions.txt"
    captions.write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    return root, folder, captions


def test_images_and_captions_through_the_encoder(inputs, tmp_path):
    _, folder, captions = inputs
    out = tmp_path / "geo"
    result = run("geometry", "--images", folder, "--captions", captions, "--encoder", "tiny",
                 "-o", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"report: {out / 'report.html'}" in result.stdout
    data = json.loads((out / "geometry.json").read_text(encoding="utf-8"))
    enc = load_encoder("tiny")
    files = sorted(folder.glob("[0-9]*.png"))
    images = enc.encode_images([load_image(f) for f in files])
    texts = enc.encode_texts(CAPTIONS)
    expected = json.loads(json.dumps(analyze(images, texts).to_dict()))
    assert data["n_images"] == len(CAPTIONS) and data["n_texts"] == len(CAPTIONS)
    assert data["contrastive"] is None  # no --pairs
    np.testing.assert_allclose(data["images"]["thin_shell"]["raw_norm_mean"],
                               expected["images"]["thin_shell"]["raw_norm_mean"], rtol=1e-5)
    np.testing.assert_allclose(data["modality_gap"]["gap"], expected["modality_gap"]["gap"],
                               rtol=1e-5)
    assert data["info"]["encoder"] == "tiny" and data["info"]["failed items"] == "1"
    for name in ("thin_shell", "spectrum", "separability", "conformity", "conformity_kl"):
        assert (out / f"{name}.png").is_file()
    assert not (out / "contrastive.png").exists()


def test_pairs_from_row_aligned_embedding_files(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 40, 16
    shared = rng.standard_normal((n, d))
    images = (rng.standard_normal(d) * 2 + shared + 0.3 * rng.standard_normal((n, d)))
    texts = (rng.standard_normal(d) * 2 + shared + 0.3 * rng.standard_normal((n, d)))
    np.save(tmp_path / "img.npy", images.astype(np.float32))
    np.save(tmp_path / "txt.npy", texts.astype(np.float32))
    out = tmp_path / "geo"
    result = run("geometry", "-i", tmp_path / "img.npy", "-c", tmp_path / "txt.npy", "--pairs",
                 "-o", out)
    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads((out / "geometry.json").read_text(encoding="utf-8"))
    expected = analyze(images.astype(np.float32), texts.astype(np.float32), pairs=True)
    assert data["contrastive"]["n_pairs"] == n
    np.testing.assert_allclose(data["contrastive"]["loss"], expected.contrastive.loss,
                               rtol=1e-6)
    assert (out / "contrastive.png").is_file()


def test_pairs_skip_items_that_failed_on_either_side(inputs, tmp_path):
    root, folder, _ = inputs
    with_extra = root / "captions13.txt"
    with_extra.write_text("\n".join([*CAPTIONS, "a caption for the broken file"]) + "\n",
                          encoding="utf-8")
    out = tmp_path / "geo"
    result = run("geometry", "-i", folder, "-c", with_extra, "--pairs", "--encoder", "tiny",
                 "-o", out)
    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads((out / "geometry.json").read_text(encoding="utf-8"))
    assert data["n_images"] == 12 and data["n_texts"] == 13
    assert data["contrastive"]["n_pairs"] == 12  # the broken image's pair is dropped


@pytest.mark.parametrize("case", ["pair_count", "captions_as_images", "dims", "text_encoder",
                                  "too_few", "empty_folder"])
def test_bad_input_exits_2_without_a_report(case, inputs, tmp_path):
    _, folder, captions = inputs
    out = tmp_path / "geo"
    rng = np.random.default_rng(1)
    if case == "pair_count":
        args = ["-i", folder, "-c", captions, "--pairs", "--encoder", "tiny"]
        expected = ["13 images and 12 captions"]
    elif case == "captions_as_images":
        args = ["-i", captions, "-c", captions, "--encoder", "tiny"]
        expected = ["is a caption file"]
    elif case == "dims":
        np.save(tmp_path / "a.npy", rng.standard_normal((6, 8)).astype(np.float32))
        np.save(tmp_path / "b.npy", rng.standard_normal((6, 9)).astype(np.float32))
        args = ["-i", tmp_path / "a.npy", "-c", tmp_path / "b.npy"]
        expected = ["dimension"]
    elif case == "text_encoder":
        args = ["-i", folder, "-c", captions, "--encoder", "st:all-MiniLM-L6-v2"]
        expected = ["cannot embed image"]
    elif case == "too_few":
        np.save(tmp_path / "a.npy", rng.standard_normal((2, 8)).astype(np.float32))
        np.save(tmp_path / "b.npy", rng.standard_normal((6, 8)).astype(np.float32))
        args = ["-i", tmp_path / "a.npy", "-c", tmp_path / "b.npy"]
        expected = ["at least 3"]
    else:
        (tmp_path / "empty").mkdir()
        args = ["-i", tmp_path / "empty", "-c", captions, "--encoder", "tiny"]
        expected = ["no images found"]
    assert_user_error(run("geometry", *args, "-o", out), *expected, progress_first=True)
    assert not (out / "report.html").exists() and not (out / "geometry.json").exists()
    if case in ("pair_count", "captions_as_images", "text_encoder", "empty_folder"):
        assert not (out / ".work").exists()  # refused before anything was embedded


def test_installed_console_script(tmp_path):
    rng = np.random.default_rng(2)
    images = (rng.standard_normal((20, 8)) + 3).astype(np.float32)
    texts = (rng.standard_normal((20, 8)) - 3).astype(np.float32)
    np.save(tmp_path / "img.npy", images)
    np.save(tmp_path / "txt.npy", texts)
    exe = Path(sys.executable).with_name("vslerp")
    out = tmp_path / "geo"
    ok = subprocess.run([str(exe), "geometry", "-i", str(tmp_path / "img.npy"), "-c",
                         str(tmp_path / "txt.npy"), "--pairs", "-o", str(out)],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    data = json.loads((out / "geometry.json").read_text(encoding="utf-8"))
    separating = int(np.sum((texts.max(axis=0) < images.min(axis=0))
                            | (images.max(axis=0) < texts.min(axis=0))))
    assert separating >= 6  # the modalities are 6 standard deviations apart
    assert data["separability"]["n_perfect_features"] == separating
