"""vSLERP grids on the tiny backend (offline).

Oracles: an independent float64 vSLERP written out here, ``KandinskyV22Pipeline.__call__``
per cell on an independently built tiny model (same weights), numpy cosine similarity, and the
files on disk.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import KandinskyV22Pipeline

from vslerp.editors import load_editor
from vslerp.errors import InputError
from vslerp.grid import GRID_FORMAT, GridResult, Prompt, interpolate, render_grid
from vslerp.imaging import ImageLoadError, load_image, save_image
from vslerp.means import ModalityMean
from vslerp.tiny import build_tiny_kandinsky22, generated_images

T = [0.0, 0.5, 1.0]
ALPHA = [-1.0, 0.0, 1.5]


@pytest.fixture(scope="module")
def editor():
    return load_editor("tiny")


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ends")
    a, b = generated_images(2, 64, 21)
    return save_image(a, folder / "a.png"), save_image(b, folder / "b.png")


@pytest.fixture(scope="module")
def spied_grid(editor, endpoints):
    """A 3 × 3 grid rendered while recording every decoder call."""
    calls: list[dict] = []
    original = KandinskyV22Pipeline.__call__

    def spy(self, *args, **kwargs):
        calls.append({"image_embeds": kwargs["image_embeds"].clone(),
                      "negative": kwargs["negative_image_embeds"].clone(),
                      "latents": kwargs["latents"].clone()})
        return original(self, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(KandinskyV22Pipeline, "__call__", spy)
    try:
        grid = render_grid(editor, *endpoints, t=T, alpha=ALPHA, seed=4, steps=2, batch_size=2)
    finally:
        mp.undo()
    return grid, calls


def _vslerp64(v0, v1, t, alpha, m):
    """Independent oracle: SLERP(v0 − αm, v1 − αm, t) + αm in float64."""
    a, b = v0 - alpha * m, v1 - alpha * m
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    w0, w1 = np.sin((1 - t) * omega) / np.sin(omega), np.sin(t * omega) / np.sin(omega)
    return w0 * a + w1 * b + alpha * m


def test_cells_are_vslerp_around_the_backend_mean(editor, endpoints, spied_grid):
    grid, _ = spied_grid
    v0, v1 = editor.embed_images(list(endpoints)).astype(np.float64)
    m = editor.image_mean().mean
    assert grid.embeddings.shape == (3, 3, 32) and grid.embeddings.dtype == np.float32
    for i, t in enumerate(T):
        for k, alpha in enumerate(ALPHA):
            want = _vslerp64(v0, v1, t, alpha, m)
            np.testing.assert_allclose(grid.embeddings[i, k], want, rtol=1e-5,
                                       atol=1e-5 * np.abs(want).max())


def test_decoder_receives_exactly_the_distinct_cells_once(spied_grid):
    grid, calls = spied_grid
    sent = torch.cat([c["image_embeds"] for c in calls]).numpy()
    # t = 0 and t = 1 rows are one embedding each: 1 + 3 + 1 distinct cells
    assert sent.shape[0] == 5 == grid.metadata["unique_cells"]
    assert [c["image_embeds"].shape[0] for c in calls] == [2, 2, 1]  # batch_size=2
    distinct = {row.tobytes() for row in grid.embeddings.reshape(-1, 32)}
    assert {row.tobytes() for row in sent} == distinct  # bit for bit, nothing else
    # every call used the same initial noise, drawn from Generator().manual_seed(seed)
    noise = torch.randn((1, 4, 32, 32), generator=torch.Generator().manual_seed(4))
    for call in calls:
        assert torch.equal(call["latents"], noise.expand_as(call["latents"]))


def test_endpoint_rows_are_the_endpoints_for_every_alpha(editor, endpoints, spied_grid):
    grid, _ = spied_grid
    v0, v1 = editor.embed_images(list(endpoints))
    for k in range(len(ALPHA)):
        np.testing.assert_array_equal(grid.embeddings[0, k], v0)
        np.testing.assert_array_equal(grid.embeddings[2, k], v1)
        assert np.array_equal(np.asarray(grid.images[0][k]), np.asarray(grid.images[0][0]))
        assert np.array_equal(np.asarray(grid.images[2][k]), np.asarray(grid.images[2][0]))


def test_nonzero_alpha_changes_mid_path_cells(spied_grid):
    grid, _ = spied_grid
    mid = [np.asarray(img, dtype=np.int16) for img in grid.images[1]]
    assert not np.array_equal(grid.embeddings[1, 0], grid.embeddings[1, 1])
    assert np.abs(mid[0] - mid[1]).max() > 0 and np.abs(mid[2] - mid[1]).max() > 0


def test_grid_images_equal_per_cell_pipeline_calls(editor, endpoints, spied_grid):
    grid, _ = spied_grid
    oracle = build_tiny_kandinsky22(0)
    negative = oracle.prior.get_zero_embed()
    for i, k in [(0, 0), (1, 0), (1, 2), (2, 1)]:
        out = oracle.decoder(image_embeds=torch.from_numpy(grid.embeddings[i, k][None]),
                             negative_image_embeds=negative, height=64, width=64,
                             num_inference_steps=2, guidance_scale=4.0,
                             latents=torch.randn((1, 4, 32, 32),
                                                 generator=torch.Generator().manual_seed(4)),
                             generator=torch.Generator().manual_seed(4), output_type="pil")
        got = np.asarray(grid.images[i][k], dtype=np.int16)
        want = np.asarray(out.images[0], dtype=np.int16)
        assert np.abs(got - want).max() <= 1  # rounding of the last bit to 8 bits


def test_conformity_is_cosine_to_the_mean(editor, spied_grid):
    grid, _ = spied_grid
    m = editor.image_mean().mean
    e = grid.embeddings.astype(np.float64)
    want = e @ m / (np.linalg.norm(e, axis=-1) * np.linalg.norm(m))
    np.testing.assert_allclose(grid.conformity, want, rtol=1e-6)


def test_metadata_and_sheet(spied_grid, endpoints):
    grid, _ = spied_grid
    meta = grid.metadata
    assert meta["model"] == "tiny" and meta["seed"] == 4 and meta["steps"] == 2
    assert (meta["height"], meta["width"]) == (64, 64)
    assert meta["a"] == str(endpoints[0]) and "clip_mean" in meta["mean_source"]
    assert set(meta["versions"]) == {"vslerp", "torch", "diffusers", "transformers"}
    sheet = grid.sheet()
    assert sheet.width > 3 * 64 and sheet.height > 3 * 64
    assert [f.size for f in grid.frames("alpha", 1)] == [(64, 64)] * 3
    assert grid.frames("t", 2)[0] is grid.images[0][2]
    with pytest.raises(InputError):
        grid.frames("t", 3)


def test_save_load_round_trip_and_save_twice(spied_grid, editor, endpoints, tmp_path):
    grid, _ = spied_grid
    out = tmp_path / "grid"
    grid.save(out)
    (out / "notes.txt").write_text("user file")  # not ours: must survive
    grid.save(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == GRID_FORMAT
    for key in ("model", "revision", "mean_source", "seed", "steps", "guidance", "height",
                "width", "t", "alpha", "cells", "versions"):
        assert key in manifest
    assert len(manifest["cells"]) == 9
    cell = manifest["cells"][5]
    assert (cell["t"], cell["alpha"]) == (T[cell["row"]], ALPHA[cell["col"]])
    assert np.array_equal(np.asarray(load_image(out / cell["file"])),
                          np.asarray(grid.images[cell["row"]][cell["col"]]))
    loaded = GridResult.load(out)
    assert loaded.t == grid.t and loaded.alpha == grid.alpha
    np.testing.assert_array_equal(loaded.embeddings, grid.embeddings)
    np.testing.assert_array_equal(loaded.conformity, grid.conformity)
    assert loaded.metadata["seed"] == 4 and loaded.metadata["a"] == grid.metadata["a"]
    # a smaller grid into the same folder leaves only its own cells and GIFs
    small = render_grid(editor, *endpoints, t=[0.0, 1.0], alpha=[0.0], seed=4, steps=1)
    small.save(out)
    listed = {c["file"] for c in json.loads((out / "manifest.json").read_text())["cells"]}
    on_disk = {f"cells/{p.name}" for p in (out / "cells").iterdir()}
    assert on_disk == listed and len(listed) == 2
    assert [p.name for p in (out / "gifs").iterdir()] == ["t_sweep_a00.gif"]
    assert (out / "notes.txt").read_text() == "user file"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp leftovers
    assert GridResult.load(out).shape == (2, 1)


def test_interpolate_is_one_grid_cell(editor, endpoints, spied_grid):
    grid, _ = spied_grid
    image = interpolate(editor, *endpoints, t=0.5, alpha=1.5, seed=4, steps=2)
    diff = np.asarray(image, np.int16) - np.asarray(grid.images[1][2], np.int16)
    assert np.abs(diff).max() <= 1  # alone vs in a batch of 2: at most last-bit rounding


def test_prompt_endpoints_use_the_prior_with_the_grid_seed(editor, endpoints):
    grid = render_grid(editor, "prompt:a lighthouse", Prompt("a lighthouse at night"),
                       t=[0.0, 1.0], alpha=0.0, seed=6, steps=1)
    want = editor.embed_prompts(["a lighthouse", "a lighthouse at night"], seed=6)
    np.testing.assert_array_equal(grid.embeddings[0, 0], want[0])
    np.testing.assert_array_equal(grid.embeddings[1, 0], want[1])
    assert grid.metadata["a"] == "prompt:a lighthouse"


def test_given_mean_moves_the_cells(editor, endpoints, spied_grid):
    grid, _ = spied_grid
    other = ModalityMean(mean=np.full(32, 0.5), encoder="test", modality="image",
                         source="a constant mean")
    moved = render_grid(editor, *endpoints, t=[0.5], alpha=[1.5], seed=4, steps=1, mean=other)
    v0, v1 = editor.embed_images(list(endpoints)).astype(np.float64)
    np.testing.assert_allclose(moved.embeddings[0, 0], _vslerp64(v0, v1, 0.5, 1.5, other.mean),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(moved.embeddings[0, 0], grid.embeddings[1, 2])
    assert moved.metadata["mean_source"] == "a constant mean"


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"t": []}, "t"), ({"t": [0.0, float("nan")]}, "t"), ({"alpha": "1"}, "alpha"),
    ({"alpha": [[1.0]]}, "alpha"), ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
    ({"height": 30}, "height"),
])
def test_bad_arguments_are_named(editor, endpoints, kwargs, name):
    args = {"t": [0.5], "alpha": [0.0], **kwargs}
    with pytest.raises(InputError) as err:
        render_grid(editor, *endpoints, **args)
    assert err.value.argument == name


def test_bad_endpoints_are_named(editor, endpoints, tmp_path):
    with pytest.raises(ImageLoadError) as err:
        render_grid(editor, tmp_path / "nope.png", endpoints[1], t=[0.5], alpha=[0.0])
    assert err.value.argument == "a" and "nope.png" in str(err.value)
    with pytest.raises(InputError) as err:
        render_grid(editor, endpoints[0], "prompt:  ", t=[0.5], alpha=[0.0])
    assert err.value.argument == "b"
