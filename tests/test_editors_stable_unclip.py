"""The stable unCLIP editor on tiny components saved in the hub layout (offline).

Oracle: diffusers' ``StableUnCLIPImg2ImgPipeline.__call__`` per row (``image_embeds=``, empty
prompt, same latents and generator seed) on an independently built tiny pipeline.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vslerp.editors import Editor, load_editor
from vslerp.editors.stable_unclip import StableUnclipEditor
from vslerp.errors import InputError
from vslerp.means import ModalityMean
from vslerp.tiny import build_tiny_stable_unclip, generated_images, save_tiny_stable_unclip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_stable_unclip(tmp_path_factory.mktemp("su"))


@pytest.fixture(scope="module")
def editor(folder) -> StableUnclipEditor:
    return load_editor("stable-unclip", decoder=folder)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def oracle():
    return build_tiny_stable_unclip(0).pipeline


def test_mean_comes_from_the_image_normalizer(editor, oracle, folder):
    assert isinstance(editor, Editor) and editor.id == "stable-unclip"
    mean = editor.image_mean()
    np.testing.assert_array_equal(mean.mean,
                                  oracle.image_normalizer.mean.detach().double().numpy()[0])
    assert mean.source == f"image_normalizer.mean of {folder}"


def test_trivial_normalizer_needs_a_given_mean(folder):
    trivial = load_editor("stable-unclip-small", decoder=folder)
    with torch.no_grad():
        trivial.pipeline.image_normalizer.mean.zero_()
        trivial.pipeline.image_normalizer.std.fill_(1.0)
    with pytest.raises(InputError) as err:
        trivial.image_mean()
    assert "image_normalizer" in str(err.value) and "--mean" in str(err.value)
    embeds = trivial.embed_images(generated_images(6, 64, 1))
    given = ModalityMean.from_embeddings(embeds, encoder="su", modality="image", source="refs")
    with_mean = load_editor("stable-unclip-small", decoder=folder, mean=given)
    with torch.no_grad():
        with_mean.pipeline.image_normalizer.mean.zero_()
    assert with_mean.image_mean() is given


def test_prompts_are_refused(editor):
    with pytest.raises(InputError) as err:
        editor.embed_prompts(["a cat"])
    assert "no prior" in str(err.value)


def test_decode_batched_equals_per_row_pipeline_calls(editor, oracle):
    embeds = editor.embed_images(generated_images(3, 64, 8))
    got = editor.decode(embeds, seed=2, steps=2, guidance=3.0, batch_size=2, output="latent")
    want = []
    for row in embeds:
        latents = torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(2))
        out = oracle(image=None, image_embeds=torch.from_numpy(row[None]), prompt=[""],
                     latents=latents, generator=torch.Generator().manual_seed(2),
                     num_inference_steps=2, guidance_scale=3.0, noise_level=0,
                     output_type="latent")
        want.append(out.images)
    want_t = torch.cat(want)
    assert got.shape == (3, 4, 16, 16)
    assert float((got - want_t).abs().max() / want_t.abs().max()) < 1e-4
    images = editor.decode(embeds[:1], steps=1)
    assert images[0].size == (32, 32)
