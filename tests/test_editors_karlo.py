"""The Karlo editor on tiny components saved in the published hub layout (offline).

Oracles: diffusers' ``UnCLIPImageVariationPipeline.__call__`` per row on an independently
built tiny Karlo, the prior's ``clip_mean`` read directly, and the image embedding
``UnCLIPPipeline`` (text-to-image Karlo) hands to its decoder for a prompt.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vslerp.editors import Editor, load_editor
from vslerp.editors.karlo import KarloEditor
from vslerp.errors import InputError
from vslerp.tiny import build_tiny_karlo, generated_images, save_tiny_karlo


def test_unclip_image_variation_pipeline_imports():
    """Karlo's pipeline lives under diffusers' deprecated folder; the pinned range imports it."""
    from diffusers import UnCLIPImageVariationPipeline as top_level
    from diffusers.pipelines.deprecated.unclip import UnCLIPImageVariationPipeline as deprecated

    from vslerp.editors.karlo import UnCLIPImageVariationPipeline

    assert UnCLIPImageVariationPipeline is top_level is deprecated


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return save_tiny_karlo(tmp_path_factory.mktemp("karlo"))


@pytest.fixture(scope="module")
def editor(dirs) -> KarloEditor:
    variations_dir, prior_dir = dirs
    return load_editor("karlo", decoder=variations_dir, prior=prior_dir)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def oracle():
    return build_tiny_karlo(0)


def test_mean_is_read_lazily_without_loading_the_prior(dirs, oracle, monkeypatch):
    from diffusers import PriorTransformer, UnCLIPPipeline

    loads: list[str] = []

    def refuse(*args, **kwargs):
        loads.append(str(args[:1]))
        raise AssertionError("the prior must not be loaded to read clip_mean")

    monkeypatch.setattr(PriorTransformer, "from_pretrained", refuse)
    monkeypatch.setattr(UnCLIPPipeline, "from_pretrained", refuse)
    variations_dir, prior_dir = dirs
    editor = load_editor("karlo", decoder=variations_dir, prior=prior_dir)
    mean = editor.image_mean()
    assert loads == []
    np.testing.assert_array_equal(mean.mean,
                                  oracle.unclip.prior.clip_mean.detach().double().numpy()[0])
    assert mean.source == f"clip_mean of {prior_dir}"
    assert isinstance(editor, Editor) and editor.id == "karlo" and editor.embed_dim == 32


def test_embed_images_uses_the_variations_image_encoder(editor, oracle):
    images = generated_images(3, 64, 4)
    pixels = oracle.variations.feature_extractor(images=images, return_tensors="pt").pixel_values
    with torch.no_grad():
        want = oracle.variations.image_encoder(pixels).image_embeds.numpy()
    np.testing.assert_allclose(editor.embed_images(images), want, rtol=1e-5, atol=1e-6)


def test_decode_batched_equals_per_row_pipeline_calls(editor):
    # The per-row oracle is diffusers' pipeline called directly on the editor's own loaded
    # components (a separately built tiny Karlo differs in the last bits, see below).
    embeds = editor.embed_images(generated_images(3, 64, 4))
    got = editor.decode(embeds, seed=5, steps=2, guidance=4.0, batch_size=2, output="latent")
    want = []
    for row in embeds:
        gen = torch.Generator().manual_seed(5)
        decoder_latents = torch.randn((1, 3, 32, 32), generator=gen)
        super_res_latents = torch.randn((1, 3, 64, 64), generator=gen)
        out = editor.pipeline(image=None, image_embeddings=torch.from_numpy(row[None]),
                                decoder_latents=decoder_latents,
                                super_res_latents=super_res_latents,
                                generator=torch.Generator().manual_seed(5),
                                decoder_num_inference_steps=2, super_res_num_inference_steps=2,
                                decoder_guidance_scale=4.0, output_type="np")
        want.append(torch.from_numpy(out.images).permute(0, 3, 1, 2))
    want_t = torch.cat(want)
    assert got.shape == (3, 3, 64, 64)
    # Equal up to rounding: the random-weight tiny decoder amplifies the last-bit differences
    # of batched matmuls at a few isolated pixels (up to ~3e-3 there), so the bound is on all
    # but 0.1% of the values plus a loose maximum; wrong noise or seeds differ everywhere by ~1.
    diff = (got - want_t).abs().flatten()
    assert float(torch.quantile(diff, 0.999)) < 1e-4
    assert float(diff.max()) < 1e-2
    images = editor.decode(embeds[:1], seed=5, steps=2)
    assert images[0].size == (64, 64)
    with pytest.raises(InputError) as err:  # UnCLIPScheduler cannot run a single step
        editor.decode(embeds[:1], steps=1)
    assert err.value.argument == "steps" and ">= 2" in str(err.value)


def test_fixed_output_size_is_enforced(editor):
    assert editor.output_size() == (64, 64)
    with pytest.raises(InputError) as err:
        editor.decode(np.ones((1, 32), np.float32), steps=2, height=128)
    assert err.value.argument == "height"


def test_prompts_match_the_image_embedding_unclip_pipeline_decodes(editor, oracle, monkeypatch):
    captured: list[torch.Tensor] = []
    text_proj = oracle.unclip.text_proj
    forward = text_proj.forward

    def spy(*args, **kwargs):
        captured.append(kwargs["image_embeddings"].detach().clone())
        return forward(*args, **kwargs)

    monkeypatch.setattr(text_proj, "forward", spy)
    oracle.unclip("a small boat", generator=torch.Generator().manual_seed(9),
                  prior_num_inference_steps=25, prior_guidance_scale=4.0,
                  decoder_num_inference_steps=2, super_res_num_inference_steps=2,
                  output_type="np")
    got = editor.embed_prompts(["a small boat"], seed=9)
    np.testing.assert_allclose(got, captured[0].numpy(), rtol=1e-5, atol=1e-6)
