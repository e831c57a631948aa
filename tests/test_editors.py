"""The Editor contract on the Kandinsky 2.2 code path (tiny weights, offline).

Oracles are diffusers' own pipelines called directly on an independently built tiny model
(same seed, same weights): ``KandinskyV22Pipeline.__call__`` per row with the same embeddings,
negative embedding (``KandinskyV22PriorPipeline.get_zero_embed``), latents and generator seed,
and ``KandinskyV22PriorPipeline.__call__`` for prompts.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from safetensors import safe_open

from vslerp.editors import EDITORS, Editor, load_editor
from vslerp.editors.kandinsky import KandinskyEditor
from vslerp.errors import InputError, ModelUnavailableError
from vslerp.imaging import ImageLoadError, save_image
from vslerp.means import ModalityMean
from vslerp.tiny import build_tiny_kandinsky22, generated_images, save_tiny_kandinsky22


@pytest.fixture(scope="module")
def editor() -> KandinskyEditor:
    return load_editor("tiny")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def oracle():
    """An independently built tiny Kandinsky 2.2 (same seed as the tiny editor)."""
    return build_tiny_kandinsky22(0)


@pytest.fixture(scope="module")
def images():
    return generated_images(5, 64, 7)


@pytest.fixture(scope="module")
def hub_dirs(tmp_path_factory):
    return save_tiny_kandinsky22(tmp_path_factory.mktemp("k22"))


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _oracle_latents(oracle, embeds: np.ndarray, *, seed: int, steps: int, guidance: float):
    """One ``KandinskyV22Pipeline.__call__`` per row, as a user would write it."""
    negative = oracle.prior.get_zero_embed()
    rows = []
    for row in embeds:
        latents = torch.randn((1, 4, 32, 32), generator=torch.Generator().manual_seed(seed))
        out = oracle.decoder(image_embeds=torch.from_numpy(row[None]),
                             negative_image_embeds=negative, height=64, width=64,
                             num_inference_steps=steps, guidance_scale=guidance,
                             generator=torch.Generator().manual_seed(seed), latents=latents,
                             output_type="latent")
        rows.append(out.images)
    return torch.cat(rows)


def test_tiny_is_an_editor_with_manifest_fields(editor):
    assert isinstance(editor, Editor)
    assert editor.id == "tiny" and editor.revision is None
    assert editor.embed_dim == 32
    assert editor.device.type == "cpu" and editor.dtype == torch.float32
    assert "clip_mean" in editor.mean_source
    assert editor.output_size() == (64, 64)


def test_embed_images_matches_the_image_encoder(editor, oracle, images):
    got = editor.embed_images(images)
    pixels = oracle.prior.image_processor(images=images, return_tensors="pt").pixel_values
    with torch.no_grad():
        want = oracle.prior.image_encoder(pixels).image_embeds.numpy()
    assert got.shape == (5, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_image_embeddings_are_cached_by_content(editor, images, tmp_path, monkeypatch):
    fresh = load_editor("tiny")
    encoded: list[int] = []
    forward = fresh.image_encoder.forward

    def spy(*args, **kwargs):
        encoded.append(int(kwargs.get("pixel_values", args[0] if args else None).shape[0]))
        return forward(*args, **kwargs)

    monkeypatch.setattr(fresh.image_encoder, "forward", spy)
    first = fresh.embed_images([images[0], images[1], images[0]])
    assert sum(encoded) == 2  # the repeated image is encoded once
    path = save_image(images[1], tmp_path / "b.png")  # same pixels from a file
    again = fresh.embed_images([path, images[0]])
    assert sum(encoded) == 2  # nothing new to encode
    np.testing.assert_array_equal(again, first[[1, 0]])
    np.testing.assert_allclose(first, editor.embed_images([images[0], images[1], images[0]]),
                               rtol=1e-5, atol=1e-6)  # (batch composition moves the last bits)


def test_decode_batched_equals_per_row_pipeline_calls(editor, oracle, images):
    embeds = editor.embed_images(images[:3])
    for guidance in (4.0, 1.0):  # with and without classifier-free guidance
        got = editor.decode(embeds, seed=11, steps=2, guidance=guidance, batch_size=2,
                            output="latent")
        want = _oracle_latents(oracle, embeds, seed=11, steps=2, guidance=guidance)
        assert got.shape == (3, 4, 32, 32)
        assert _rel_err(got, want) < 1e-4
    # rows differ (different embeddings) but share the noise: not all equal
    assert _rel_err(got[0], got[1]) > 1e-3


def test_decode_uses_the_zero_image_negative_embedding(editor, oracle):
    np.testing.assert_allclose(editor.negative_embedding().numpy(),
                               oracle.prior.get_zero_embed().detach().numpy(), rtol=1e-6, atol=1e-7)


def test_decode_pil_output_and_progress(editor, images):
    embeds = editor.embed_images(images[:3])
    calls: list[tuple[int, int]] = []
    out = editor.decode(embeds, seed=0, steps=1, batch_size=2,
                        progress=lambda done, total: calls.append((done, total)))
    assert [im.size for im in out] == [(64, 64)] * 3 and all(im.mode == "RGB" for im in out)
    assert calls == [(2, 3), (3, 3)]


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"steps": 0}, "steps"), ({"guidance": float("nan")}, "guidance"),
    ({"batch_size": 0}, "batch_size"), ({"output": "np"}, "output"), ({"seed": -1}, "seed"),
    ({"height": 62}, "height"), ({"width": 0}, "width"),
])
def test_decode_validates_arguments(editor, kwargs, name):
    with pytest.raises(InputError) as err:
        editor.decode(np.ones((1, 32), np.float32), **kwargs)
    assert err.value.argument == name


def test_decode_refuses_bad_embeddings(editor):
    for bad in (np.ones((2, 31), np.float32), np.full((1, 32), np.nan, np.float32),
                np.ones((1, 2, 32))):
        with pytest.raises(InputError) as err:
            editor.decode(bad, steps=1)
        assert err.value.argument == "image_embeds"


def test_mean_is_the_priors_clip_mean(editor, oracle):
    mean = editor.image_mean()
    assert isinstance(mean, ModalityMean) and mean.modality == "image"
    np.testing.assert_array_equal(mean.mean, oracle.clip_mean.double().numpy()[0])
    clip_std = oracle.prior.prior.clip_std.detach().double().numpy()[0]
    np.testing.assert_array_equal(mean.std, clip_std)


def test_prompts_match_the_prior_pipeline_and_are_cached(oracle, monkeypatch):
    fresh = load_editor("tiny")
    want = oracle.prior("a red fox", generator=torch.Generator().manual_seed(3),
                        num_inference_steps=25, guidance_scale=4.0).image_embeds.numpy()
    prior = fresh._prior_pipeline()
    calls: list[str] = []
    original = type(prior).__call__

    def spy(self, prompt, *args, **kwargs):
        calls.append(prompt)
        return original(self, prompt, *args, **kwargs)

    monkeypatch.setattr(type(prior), "__call__", spy)
    got = fresh.embed_prompts(["a red fox", "a red fox"], seed=3)
    np.testing.assert_allclose(got, np.repeat(want, 2, axis=0), rtol=1e-5, atol=1e-6)
    assert calls == ["a red fox"]
    fresh.embed_prompts(["a red fox"], seed=4)
    assert calls == ["a red fox", "a red fox"]  # another seed is another sample
    with pytest.raises(InputError):
        fresh.embed_prompts(["  "])
    with pytest.raises(InputError):
        fresh.embed_prompts("a red fox")  # a bare string, not a list


def test_embed_images_names_a_bad_path(editor, tmp_path):
    with pytest.raises(ImageLoadError) as err:
        editor.embed_images([tmp_path / "missing.png"])
    assert "missing.png" in str(err.value)
    with pytest.raises(InputError):
        editor.embed_images([])


def test_kandinsky22_loads_from_hub_layout_folders(editor, hub_dirs, images):
    prior_dir, decoder_dir = hub_dirs
    loaded = load_editor("kandinsky-2.2", prior=prior_dir, decoder=decoder_dir)
    assert isinstance(loaded, KandinskyEditor) and loaded.id == "kandinsky-2.2"
    assert loaded is not editor and loaded.decoder is not editor.decoder
    np.testing.assert_array_equal(loaded.embed_images(images), editor.embed_images(images))
    with safe_open(str(prior_dir / "prior" / "diffusion_pytorch_model.safetensors"), "pt") as fh:
        stored = fh.get_tensor("clip_mean").double().numpy()[0]
    np.testing.assert_array_equal(loaded.image_mean().mean, stored)
    embeds = editor.embed_images(images[:2])
    assert _rel_err(loaded.decode(embeds, steps=2, output="latent"),
                    editor.decode(embeds, steps=2, output="latent")) < 1e-5
    np.testing.assert_allclose(loaded.embed_prompts(["x"], seed=1),
                               editor.embed_prompts(["x"], seed=1), rtol=1e-5, atol=1e-6)


def test_zero_clip_mean_is_refused_unless_a_mean_is_given(tmp_path, images):
    prior_dir, decoder_dir = save_tiny_kandinsky22(tmp_path, zero_clip_mean=True)
    broken = load_editor("kandinsky-2.2", prior=prior_dir, decoder=decoder_dir)
    with pytest.raises(InputError) as err:
        broken.image_mean()
    assert "clip_mean" in str(err.value) and "--mean" in str(err.value)
    given = ModalityMean.from_embeddings(broken.embed_images(generated_images(8, 64, 2)),
                                         encoder="tiny", modality="image", source="test set")
    ok = load_editor("kandinsky-2.2", prior=prior_dir, decoder=decoder_dir, mean=given)
    assert ok.image_mean() is given and ok.mean_source.startswith("given ModalityMean")


def test_mean_from_file_and_from_folder(editor, images, tmp_path):
    folder = tmp_path / "refs"
    for i, img in enumerate(images):
        save_image(img, folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="broken.png"):
        from_folder = load_editor("tiny", mean=folder).image_mean()
    want = editor.embed_images(images).astype(np.float64)
    np.testing.assert_allclose(from_folder.mean, want.mean(axis=0), rtol=1e-6, atol=1e-7)
    assert from_folder.count == 5 and str(folder) in from_folder.source
    path = from_folder.save(tmp_path / "m.safetensors")
    from_file = load_editor("tiny", mean=path)
    np.testing.assert_array_equal(from_file.image_mean().mean, from_folder.mean)
    assert from_file.mean_source == f"file {path}"
    with pytest.raises(InputError) as err:
        load_editor("tiny", mean=np.ones(7)).image_mean()
    assert err.value.argument == "mean" and "D=7" in str(err.value)
    with pytest.raises(InputError):
        load_editor("tiny", mean=tmp_path / "nowhere").image_mean()


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        load_editor("dalle-9")
    assert err.value.argument == "model"
    assert all(name in str(err.value) for name in EDITORS)
    with pytest.raises(InputError):
        load_editor("tiny", decoder="somewhere")
    with pytest.raises(InputError):
        load_editor("tiny", device="cpu", dtype="int8")


def test_offline_real_model_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        load_editor("kandinsky-2.2")
    elapsed = time.perf_counter() - start
    message = str(err.value)
    from vslerp.hub import hub_cache_dir

    assert elapsed < 3.0
    assert "kandinsky-community/kandinsky-2-2-" in message
    assert str(hub_cache_dir()) in message and "--model tiny" in message
