"""Tests of the tiny offline models (vslerp.tiny): determinism, real pipeline runs, image
statistics against independent float64 computations, and save/from_pretrained round trips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import (
    KandinskyV22Pipeline,
    KandinskyV22PriorPipeline,
    StableUnCLIPImg2ImgPipeline,
    UnCLIPImageVariationPipeline,
    UnCLIPPipeline,
)
from safetensors import safe_open
from transformers import (
    CLIPImageProcessor,
    CLIPModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
)

from vslerp.errors import InputError
from vslerp.tiny import (
    build_tiny_clip,
    build_tiny_kandinsky22,
    build_tiny_karlo,
    build_tiny_stable_unclip,
    build_tiny_tokenizer,
    generated_images,
    reference_images,
    save_tiny_clip,
    save_tiny_kandinsky22,
    save_tiny_karlo,
    save_tiny_stable_unclip,
)
from vslerp.tiny.images import REFERENCE_IMAGE_COUNT, REFERENCE_IMAGE_SEED, REFERENCE_IMAGE_SIZE
from vslerp.tiny.karlo import UnCLIPTextProjModel
from vslerp.tiny.tokenizer import TINY_MERGES, byte_symbols, tiny_vocab

D = 32
HOSTILE_TEXTS = [
    "",
    " ",
    "<script>alert('x')</script>",
    "emoji 🐱🚀👩‍👩‍👧 and flags 🇫🇷",
    "日本語のキャプション، عربى‎ עברית",
    "\x00\x01\x1b[31m\u200b\u202e\ufeff",
    "<|endoftext|><|startoftext|>",
    "{{7*7}} ${jndi:ldap://x} '; DROP TABLE t; --",
    "a" * 5000,
    "word " * 300,
]


# ----------------------------------------------------------------------------- helpers


def _state_dicts_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _state_dicts_all_differ(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """True when no weight matrix (ndim >= 2) is identical: different random draws."""
    sa, sb = a.state_dict(), b.state_dict()
    mats = [k for k in sa if sa[k].ndim >= 2 and sa[k].numel() > 1 and sa[k].std() > 0]
    return bool(mats) and not any(torch.equal(sa[k], sb[k]) for k in mats)


def _raw_embeds_f64(processor: CLIPImageProcessor, encoder: CLIPVisionModelWithProjection,
                    images: list[PIL.Image.Image]) -> np.ndarray:
    """Independent oracle: raw image embeddings through the pipeline's own processor and
    encoder, one image at a time, in float64."""
    rows = []
    with torch.no_grad():
        for image in images:
            pixels = processor(images=image, return_tensors="pt").pixel_values
            rows.append(encoder(pixel_values=pixels).image_embeds[0].double().numpy())
    return np.stack(rows)


def _rng_untouched(fn) -> None:
    before = torch.get_rng_state()
    expected_next = torch.rand(4)
    torch.set_rng_state(before)
    fn()
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(torch.rand(4), expected_next)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clip0():
    return build_tiny_clip(0)


@pytest.fixture(scope="module")
def kandinsky0():
    return build_tiny_kandinsky22(0)


@pytest.fixture(scope="module")
def karlo0():
    return build_tiny_karlo(0)


@pytest.fixture(scope="module")
def stable0():
    return build_tiny_stable_unclip(0)


@pytest.fixture(scope="module")
def reference_embeds(clip0) -> np.ndarray:
    return _raw_embeds_f64(clip0.image_processor, clip0.vision, reference_images())


# ----------------------------------------------------------------------------- images


def test_generated_images_are_deterministic_rgb_and_prefix_stable():
    a = generated_images(8, 40, seed=3)
    b = generated_images(8, 40, seed=3)
    assert len(a) == 8
    assert all(im.mode == "RGB" and im.size == (40, 40) for im in a)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True))
    prefix = generated_images(3, 40, seed=3)
    assert all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(prefix, a[:3], strict=True))
    other = generated_images(8, 40, seed=4)
    assert not any(np.array_equal(np.asarray(x), np.asarray(y))
                   for x, y in zip(a, other, strict=True))


def test_generated_image_kinds_have_their_structure():
    images = [np.asarray(im).reshape(-1, 3) for im in generated_images(8, 48, seed=1)]
    for i, pixels in enumerate(images):
        colours = len(np.unique(pixels, axis=0))
        if i % 4 == 1:  # checkerboard: exactly two colours
            assert colours <= 2
        else:  # gradient, blobs, smooth noise: continuous tones
            assert colours > 16
    # the checkerboard really alternates: neighbouring cells differ
    board = np.asarray(generated_images(2, 64, seed=1)[1]).astype(int)
    assert np.abs(np.diff(board, axis=1)).sum() > 0 and np.abs(np.diff(board, axis=0)).sum() > 0


def test_reference_images_match_documented_set():
    ref = reference_images()
    same = generated_images(REFERENCE_IMAGE_COUNT, REFERENCE_IMAGE_SIZE, REFERENCE_IMAGE_SEED)
    assert len(ref) == REFERENCE_IMAGE_COUNT >= 24
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(ref, same, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"n": 0}, "n"), ({"n": True}, "n"), ({"n": 2, "size": 2}, "size"),
     ({"n": 2, "size": 8.0}, "size"), ({"n": 2, "seed": -1}, "seed"),
     ({"n": 2, "seed": "0"}, "seed")],
)
def test_generated_images_validate_arguments(kwargs, argument):
    with pytest.raises(InputError) as err:
        generated_images(**kwargs)
    assert err.value.argument == argument


# ----------------------------------------------------------------------------- tokenizer


def test_tiny_vocab_layout():
    vocab = tiny_vocab()
    symbols = byte_symbols()
    assert len(set(symbols)) == 256
    assert [vocab[s] for s in symbols] == list(range(256))
    assert [vocab[s + "</w>"] for s in symbols] == list(range(256, 512))
    assert all(a + b in vocab for a, b in TINY_MERGES)
    assert vocab["<|endoftext|>"] == len(vocab) - 1 == max(vocab.values())
    assert sorted(vocab.values()) == list(range(len(vocab)))


def test_tokenizer_uses_bpe_merges_and_special_tokens(clip0):
    tok = build_tiny_tokenizer()
    vocab = tiny_vocab()
    ids = tok("the cat").input_ids
    # "the" is merged into one token, "cat" is c + "at</w>" (merge), wrapped in BOS/EOS
    assert ids == [vocab["<|startoftext|>"], vocab["the</w>"], vocab["c"], vocab["at</w>"],
                   vocab["<|endoftext|>"]]
    assert tok("xyz").input_ids[1:-1] == [vocab["x"], vocab["y"], vocab["z</w>"]]
    assert tok.model_max_length == clip0.text.config.max_position_embeddings == 77
    assert len(tok) == clip0.text.config.vocab_size
    assert tok.eos_token_id == clip0.text.config.eos_token_id
    assert tok.bos_token_id == clip0.text.config.bos_token_id


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_tokenizer_handles_hostile_text(clip0, text):
    tok = clip0.tokenizer
    enc = tok(text, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt")
    ids = enc.input_ids
    assert ids.shape == (1, 77)
    assert ids[0, 0].item() == tok.bos_token_id
    assert (ids[0] == tok.eos_token_id).any()
    assert int(ids.max()) < clip0.text.config.vocab_size
    with torch.no_grad():
        out = clip0.text(input_ids=ids, attention_mask=enc.attention_mask)
    assert out.text_embeds.shape == (1, D)
    assert torch.isfinite(out.text_embeds).all()


@pytest.mark.parametrize("text", ["naïve café 日本語 🐱", "a photo of the cat", "x"])
def test_tokenizer_round_trips_unicode_words(text):
    tok = build_tiny_tokenizer()
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text


def test_tokenizer_batch_pads_to_model_max_length():
    tok = build_tiny_tokenizer()
    enc = tok(["", "a much longer caption " * 40], padding="max_length", truncation=True)
    assert [len(x) for x in enc.input_ids] == [77, 77]
    assert sum(enc.attention_mask[0]) == 2  # BOS + EOS only
    assert sum(enc.attention_mask[1]) == 77  # truncated


def test_tokenizer_validates_length():
    with pytest.raises(InputError) as err:
        build_tiny_tokenizer(1)
    assert err.value.argument == "model_max_length"


# ----------------------------------------------------------------------------- CLIP


def test_clip_is_deterministic_per_seed_and_leaves_rng_alone(clip0):
    _rng_untouched(lambda: build_tiny_clip(0))
    again = build_tiny_clip(0)
    other = build_tiny_clip(1)
    assert _state_dicts_equal(clip0.vision, again.vision)
    assert _state_dicts_equal(clip0.text, again.text)
    assert _state_dicts_all_differ(clip0.vision, other.vision)
    assert _state_dicts_all_differ(clip0.text, other.text)


def test_clip_shapes_modes_and_dtypes(clip0):
    assert clip0.embed_dim == D and clip0.image_size == 32 and clip0.max_text_length == 77
    assert not clip0.vision.training and not clip0.text.training
    assert all(p.dtype == torch.float32 for p in clip0.vision.parameters())
    pixels = clip0.image_processor(images=generated_images(3, 50, 2),
                                   return_tensors="pt").pixel_values
    assert pixels.shape == (3, 3, 32, 32)
    # CLIP normalisation: a white image maps to (1 - mean) / std per channel
    white = clip0.image_processor(images=PIL.Image.new("RGB", (40, 40), "white"),
                                  return_tensors="pt").pixel_values[0]
    expected = (1 - torch.tensor([0.48145466, 0.4578275, 0.40821073])) / torch.tensor(
        [0.26862954, 0.26130258, 0.27577711])
    torch.testing.assert_close(white.mean(dim=(1, 2)), expected, rtol=1e-4, atol=1e-4)


def test_image_embedding_stats_match_float64_oracle(clip0, reference_embeds):
    from vslerp.tiny.clip import image_embedding_stats, raw_image_embeds

    mean, std = image_embedding_stats(clip0)
    assert mean.shape == std.shape == (1, D) and mean.dtype == torch.float32
    np.testing.assert_allclose(mean[0].numpy(), reference_embeds.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(std[0].numpy(), reference_embeds.std(axis=0, ddof=1), atol=1e-5)
    # like a real CLIP image mean: far from the origin compared with the spread
    assert np.linalg.norm(reference_embeds.mean(axis=0)) > np.linalg.norm(
        reference_embeds.std(axis=0))
    assert (std > 0).all()
    batch = raw_image_embeds(clip0, reference_images()[:5])
    np.testing.assert_allclose(batch.numpy(), reference_embeds[:5], atol=1e-5)
    with pytest.raises(InputError):
        raw_image_embeds(clip0, [])
    with pytest.raises(InputError):
        raw_image_embeds(clip0, [np.zeros((4, 4, 3))])


def test_save_tiny_clip_loads_with_standard_classes(tmp_path, clip0):
    folder = save_tiny_clip(tmp_path / "tiny-clip", seed=0)
    assert {"config.json", "model.safetensors", "preprocessor_config.json",
            "tokenizer_config.json", "vocab.json", "merges.txt"} <= set(os.listdir(folder))
    vision = CLIPVisionModelWithProjection.from_pretrained(folder)
    text = CLIPTextModelWithProjection.from_pretrained(folder)
    model = CLIPModel.from_pretrained(folder)
    tok = CLIPTokenizer.from_pretrained(folder)
    proc = CLIPImageProcessor.from_pretrained(folder)
    assert _state_dicts_equal(vision, clip0.vision)
    assert _state_dicts_equal(text, clip0.text)
    assert torch.equal(model.visual_projection.weight, clip0.vision.visual_projection.weight)
    assert torch.equal(model.text_projection.weight, clip0.text.text_projection.weight)
    texts = ["a photo of the cat", "🐱"]
    assert tok(texts, padding="max_length").input_ids == clip0.tokenizer(
        texts, padding="max_length").input_ids
    images = generated_images(2, 48, 9)
    pixels = proc(images=images, return_tensors="pt").pixel_values
    assert torch.equal(pixels, clip0.image_processor(images=images,
                                                     return_tensors="pt").pixel_values)
    with torch.no_grad():
        torch.testing.assert_close(vision(pixel_values=pixels).image_embeds,
                                   clip0.vision(pixel_values=pixels).image_embeds,
                                   rtol=1e-5, atol=1e-6)


def test_save_replaces_existing_folder_without_leftovers(tmp_path):
    target = tmp_path / "clip"
    save_tiny_clip(target, seed=0)
    (target / "stale.txt").write_text("old")
    save_tiny_clip(target, seed=1)
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]
    reloaded = CLIPVisionModelWithProjection.from_pretrained(target)
    assert _state_dicts_equal(reloaded, build_tiny_clip(1).vision)


def test_failed_save_leaves_existing_folder_intact(tmp_path):
    from vslerp.fileio import write_directory_atomic

    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_text("old")

    def broken(folder: Path) -> None:
        (folder / "weights.bin").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_directory_atomic(target, broken)
    assert (target / "weights.bin").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize(
    ("call", "argument"),
    [(lambda: build_tiny_clip(-1), "seed"), (lambda: build_tiny_clip(True), "seed"),
     (lambda: build_tiny_clip(1.5), "seed"),
     (lambda: build_tiny_kandinsky22(0, zero_clip_mean=1), "zero_clip_mean"),
     (lambda: build_tiny_karlo("0"), "seed"), (lambda: build_tiny_stable_unclip(-3), "seed")],
)
def test_builders_validate_arguments(call, argument):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.argument == argument


def test_savers_refuse_a_file_as_directory(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(InputError) as err:
        save_tiny_clip(afile)
    assert err.value.argument == "directory"
    with pytest.raises(InputError):
        save_tiny_stable_unclip(None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Kandinsky 2.2


def test_kandinsky_is_deterministic_per_seed_and_leaves_rng_alone(kandinsky0):
    _rng_untouched(lambda: build_tiny_kandinsky22(0))
    again = build_tiny_kandinsky22(0)
    other = build_tiny_kandinsky22(1)
    for name in ("prior", "decoder"):
        for component in ("prior", "image_encoder", "text_encoder", "unet", "movq"):
            a = getattr(getattr(kandinsky0, name), component, None)
            if a is None:
                continue
            b = getattr(getattr(again, name), component)
            c = getattr(getattr(other, name), component)
            assert _state_dicts_equal(a, b), component
            assert _state_dicts_all_differ(a, c), component


def test_kandinsky_components_and_modes(kandinsky0, clip0):
    prior, decoder = kandinsky0.prior, kandinsky0.decoder
    assert kandinsky0.embed_dim == D
    assert prior.image_encoder is kandinsky0.clip.vision
    assert _state_dicts_equal(prior.image_encoder, clip0.vision)  # same space as the evaluator
    assert decoder.unet.config.addition_embed_type == "image"
    assert decoder.unet.config.encoder_hid_dim == D
    assert decoder.movq.config.norm_type == "spatial"
    assert type(decoder.scheduler).__name__ == "DDPMScheduler"
    assert prior.prior.config.num_embeddings == prior.tokenizer.model_max_length
    for pipe in (prior, decoder):
        assert pipe._progress_bar_config.get("disable") is True
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                assert not module.training


def test_kandinsky_prior_turns_a_prompt_into_an_image_embedding(kandinsky0):
    out = kandinsky0.prior("a red cat", num_inference_steps=2,
                           generator=torch.Generator().manual_seed(0))
    again = kandinsky0.prior("a red cat", num_inference_steps=2,
                             generator=torch.Generator().manual_seed(0))
    other = kandinsky0.prior("a blue dog", num_inference_steps=2,
                             generator=torch.Generator().manual_seed(0))
    assert out.image_embeds.shape == (1, D) and out.negative_image_embeds.shape == (1, D)
    assert torch.isfinite(out.image_embeds).all()
    assert torch.equal(out.image_embeds, again.image_embeds)
    assert not torch.allclose(out.image_embeds, other.image_embeds)


def test_kandinsky_clip_mean_is_the_encoders_mean_over_reference_images(kandinsky0):
    prior = kandinsky0.prior
    embeds = _raw_embeds_f64(prior.image_processor, prior.image_encoder, reference_images())
    clip_mean = prior.prior.clip_mean.detach()[0].double().numpy()
    clip_std = prior.prior.clip_std.detach()[0].double().numpy()
    assert prior.prior.clip_mean.shape == (1, D)
    np.testing.assert_allclose(clip_mean, embeds.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(clip_std, embeds.std(axis=0, ddof=1), atol=1e-5)
    assert np.linalg.norm(clip_mean) > 1.0  # non-zero, like the real prior's
    assert torch.equal(kandinsky0.clip_mean, prior.prior.clip_mean.detach())


def test_kandinsky_zero_clip_mean_variant(kandinsky0):
    broken = build_tiny_kandinsky22(0, zero_clip_mean=True)
    assert torch.count_nonzero(broken.prior.prior.clip_mean) == 0
    assert torch.equal(broken.prior.prior.clip_std, kandinsky0.prior.prior.clip_std)
    assert _state_dicts_equal(broken.decoder.unet, kandinsky0.decoder.unet)


def test_kandinsky_save_of_zero_mean_variant(tmp_path):
    prior_dir, _ = save_tiny_kandinsky22(tmp_path, seed=0, zero_clip_mean=True)
    with safe_open(str(prior_dir / "prior" / "diffusion_pytorch_model.safetensors"),
                   framework="pt") as handle:
        assert torch.count_nonzero(handle.get_tensor("clip_mean")) == 0
        assert (handle.get_tensor("clip_std") > 0).all()


def _decode(decoder: KandinskyV22Pipeline, embeds: torch.Tensor, latents: torch.Tensor,
            size: int = 64) -> np.ndarray:
    return decoder(image_embeds=embeds, negative_image_embeds=torch.zeros_like(embeds),
                   height=size, width=size, num_inference_steps=2, latents=latents,
                   generator=torch.Generator().manual_seed(0), output_type="np").images


def test_kandinsky_decoder_is_deterministic_with_fixed_latents(kandinsky0, reference_embeds):
    embeds = torch.from_numpy(reference_embeds[:1]).float()
    latents = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    image = _decode(kandinsky0.decoder, embeds, latents)
    assert image.shape == (1, 64, 64, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.01
    assert np.array_equal(image, _decode(kandinsky0.decoder, embeds, latents))
    other_latents = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    assert not np.allclose(image, _decode(kandinsky0.decoder, embeds, other_latents))
    other_embeds = torch.from_numpy(reference_embeds[1:2]).float()
    assert not np.allclose(image, _decode(kandinsky0.decoder, other_embeds, latents))
    small = _decode(kandinsky0.decoder, embeds, torch.zeros(1, 4, 16, 16), size=32)
    assert small.shape == (1, 32, 32, 3)


@pytest.fixture(scope="module")
def saved_kandinsky(tmp_path_factory):
    return save_tiny_kandinsky22(tmp_path_factory.mktemp("kandinsky"), seed=0)


def test_kandinsky_save_mirrors_hub_layout(saved_kandinsky):
    prior_dir, decoder_dir = saved_kandinsky
    assert prior_dir.name == "kandinsky-2-2-prior" and decoder_dir.name == "kandinsky-2-2-decoder"
    prior_parts = {"image_encoder", "image_processor", "prior", "scheduler", "text_encoder",
                   "tokenizer"}
    assert {p.name for p in prior_dir.iterdir() if p.is_dir()} == prior_parts
    assert {p.name for p in decoder_dir.iterdir() if p.is_dir()} == {"movq", "scheduler", "unet"}
    index = json.loads((prior_dir / "model_index.json").read_text())
    assert index["_class_name"] == "KandinskyV22PriorPipeline"
    assert index["image_encoder"] == ["transformers", "CLIPVisionModelWithProjection"]
    assert (prior_dir / "prior" / "diffusion_pytorch_model.safetensors").is_file()
    assert (prior_dir / "image_encoder" / "config.json").is_file()


def test_kandinsky_from_pretrained_round_trip(saved_kandinsky, kandinsky0, reference_embeds):
    prior_dir, decoder_dir = saved_kandinsky
    prior = KandinskyV22PriorPipeline.from_pretrained(prior_dir, local_files_only=True)
    decoder = KandinskyV22Pipeline.from_pretrained(decoder_dir, local_files_only=True)
    encoder = CLIPVisionModelWithProjection.from_pretrained(prior_dir, subfolder="image_encoder")
    assert _state_dicts_equal(encoder, kandinsky0.clip.vision)
    for name in ("prior", "image_encoder", "text_encoder"):
        assert _state_dicts_equal(getattr(prior, name), getattr(kandinsky0.prior, name)), name
    for name in ("unet", "movq"):
        assert _state_dicts_equal(getattr(decoder, name), getattr(kandinsky0.decoder, name))
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    assert public(decoder.scheduler.config) == public(kandinsky0.decoder.scheduler.config)
    prior.set_progress_bar_config(disable=True)
    decoder.set_progress_bar_config(disable=True)
    kwargs = {"num_inference_steps": 2}
    loaded = prior("a red cat", generator=torch.Generator().manual_seed(0), **kwargs)
    built = kandinsky0.prior("a red cat", generator=torch.Generator().manual_seed(0), **kwargs)
    torch.testing.assert_close(loaded.image_embeds, built.image_embeds, rtol=1e-5, atol=1e-5)
    embeds = torch.from_numpy(reference_embeds[:1]).float()
    latents = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(_decode(decoder, embeds, latents),
                               _decode(kandinsky0.decoder, embeds, latents), atol=1e-4)


# ----------------------------------------------------------------------------- Karlo


def test_karlo_is_deterministic_and_shares_the_tiny_clip(karlo0, clip0):
    _rng_untouched(lambda: build_tiny_karlo(0))
    again, other = build_tiny_karlo(0), build_tiny_karlo(1)
    for name in ("decoder", "text_proj", "super_res_first", "super_res_last"):
        assert _state_dicts_equal(getattr(karlo0.variations, name), getattr(again.variations, name))
        assert _state_dicts_all_differ(getattr(karlo0.variations, name),
                                       getattr(other.variations, name))
    assert _state_dicts_equal(karlo0.unclip.prior, again.unclip.prior)
    assert not _state_dicts_equal(karlo0.variations.super_res_first,
                                  karlo0.variations.super_res_last)
    assert karlo0.variations.image_encoder is karlo0.clip.vision
    assert _state_dicts_equal(karlo0.variations.image_encoder, clip0.vision)
    assert karlo0.unclip.decoder is karlo0.variations.decoder


def test_karlo_prior_stats_match_oracle(karlo0, reference_embeds):
    prior = karlo0.unclip.prior
    assert prior.clip_mean.shape == prior.clip_std.shape == (1, D)
    np.testing.assert_allclose(prior.clip_mean.detach()[0].numpy(), reference_embeds.mean(0),
                               atol=1e-5)
    np.testing.assert_allclose(prior.clip_std.detach()[0].numpy(),
                               reference_embeds.std(0, ddof=1), atol=1e-5)


def test_karlo_image_variations_run_end_to_end(karlo0):
    pipe = karlo0.variations
    image = generated_images(3, 48, 7)[2]
    gen = torch.Generator().manual_seed(0)
    decoder_latents = torch.randn(1, 3, 32, 32, generator=gen)
    super_res_latents = torch.randn(1, 3, 64, 64, generator=gen)
    kwargs = {"decoder_num_inference_steps": 2, "super_res_num_inference_steps": 2,
              "decoder_latents": decoder_latents, "super_res_latents": super_res_latents,
              "output_type": "np"}
    out = pipe(image=image, generator=torch.Generator().manual_seed(0), **kwargs).images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    # passing the tiny encoder's embedding instead of the image gives the same result
    pixels = karlo0.clip.image_processor(images=image, return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds = karlo0.clip.vision(pixel_values=pixels).image_embeds
    via_embeds = pipe(image_embeddings=embeds, generator=torch.Generator().manual_seed(0),
                      **kwargs).images
    np.testing.assert_allclose(out, via_embeds, atol=1e-5)
    shifted = pipe(image_embeddings=embeds + 3.0, generator=torch.Generator().manual_seed(0),
                   **kwargs).images
    assert not np.allclose(out, shifted)


def test_karlo_text_to_image_runs(karlo0):
    out = karlo0.unclip("a cat", prior_num_inference_steps=2, decoder_num_inference_steps=2,
                        super_res_num_inference_steps=2, output_type="np",
                        generator=torch.Generator().manual_seed(0)).images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()


@pytest.fixture(scope="module")
def saved_karlo(tmp_path_factory):
    return save_tiny_karlo(tmp_path_factory.mktemp("karlo"), seed=0)


def test_karlo_prior_file_holds_clip_mean_readable_alone(saved_karlo, reference_embeds):
    _, prior_repo = saved_karlo
    assert prior_repo.name == "karlo-v1-alpha"
    path = prior_repo / "prior" / "diffusion_pytorch_model.safetensors"
    assert json.loads((prior_repo / "prior" / "config.json").read_text())[
        "_class_name"] == "PriorTransformer"
    with safe_open(str(path), framework="pt") as handle:
        assert {"clip_mean", "clip_std", "positional_embedding"} <= set(handle.keys())
        assert handle.get_slice("clip_mean").get_shape() == [1, D]
        clip_mean = handle.get_tensor("clip_mean")
    assert clip_mean.dtype == torch.float32
    np.testing.assert_allclose(clip_mean[0].numpy(), reference_embeds.mean(0), atol=1e-5)
    assert clip_mean.norm() > 1.0


def test_karlo_saved_layouts_and_loading(saved_karlo, karlo0):
    variations_dir, prior_repo = saved_karlo
    assert variations_dir.name == "karlo-v1-alpha-image-variations"
    assert {p.name for p in variations_dir.iterdir() if p.is_dir()} == {
        "decoder", "decoder_scheduler", "feature_extractor", "image_encoder", "super_res_first",
        "super_res_last", "super_res_scheduler", "text_encoder", "text_proj", "tokenizer"}
    assert {p.name for p in prior_repo.iterdir() if p.is_dir()} == {
        "decoder", "decoder_scheduler", "prior", "prior_scheduler", "super_res_first",
        "super_res_last", "super_res_scheduler", "text_encoder", "text_proj", "tokenizer"}
    for folder in (variations_dir, prior_repo):
        index = json.loads((folder / "model_index.json").read_text())
        assert index["text_proj"] == ["unclip", "UnCLIPTextProjModel"]  # as published
    # diffusers cannot resolve the published text_proj entry, so load component by component
    loaded = UnCLIPImageVariationPipeline(**_load_components(variations_dir))
    unclip = UnCLIPPipeline(**_load_components(prior_repo))
    for name in ("decoder", "text_proj", "super_res_first", "super_res_last", "image_encoder",
                 "text_encoder"):
        assert _state_dicts_equal(getattr(loaded, name), getattr(karlo0.variations, name)), name
    assert _state_dicts_equal(unclip.prior, karlo0.unclip.prior)
    loaded.set_progress_bar_config(disable=True)
    gen = torch.Generator().manual_seed(0)
    # UnCLIPScheduler needs at least 2 steps (it divides by num_inference_steps - 1)
    kwargs = {"image_embeddings": torch.ones(1, D), "decoder_num_inference_steps": 2,
              "super_res_num_inference_steps": 2, "output_type": "np",
              "decoder_latents": torch.randn(1, 3, 32, 32, generator=gen),
              "super_res_latents": torch.randn(1, 3, 64, 64, generator=gen)}
    np.testing.assert_allclose(
        loaded(generator=torch.Generator().manual_seed(0), **kwargs).images,
        karlo0.variations(generator=torch.Generator().manual_seed(0), **kwargs).images,
        atol=1e-4)


def _load_components(folder: Path) -> dict[str, object]:
    """Load every component named in ``model_index.json`` from its subfolder."""
    import diffusers
    import transformers

    libraries = {"diffusers": diffusers, "transformers": transformers}
    components: dict[str, object] = {}
    for name, entry in json.loads((folder / "model_index.json").read_text()).items():
        if name.startswith("_"):
            continue
        library, class_name = entry
        cls = (UnCLIPTextProjModel if class_name == "UnCLIPTextProjModel"
               else getattr(libraries[library], class_name))
        components[name] = cls.from_pretrained(folder, subfolder=name)
    return components


# ----------------------------------------------------------------------------- stable unCLIP


def test_stable_unclip_is_deterministic_with_real_normalizer(stable0, clip0, reference_embeds):
    _rng_untouched(lambda: build_tiny_stable_unclip(0))
    again, other = build_tiny_stable_unclip(0), build_tiny_stable_unclip(1)
    for name in ("unet", "vae", "text_encoder"):
        assert _state_dicts_equal(getattr(stable0.pipeline, name), getattr(again.pipeline, name))
        assert _state_dicts_all_differ(getattr(stable0.pipeline, name),
                                       getattr(other.pipeline, name))
    normalizer = stable0.pipeline.image_normalizer
    np.testing.assert_allclose(normalizer.mean.detach()[0].numpy(), reference_embeds.mean(0),
                               atol=1e-5)
    np.testing.assert_allclose(normalizer.std.detach()[0].numpy(),
                               reference_embeds.std(0, ddof=1), atol=1e-5)
    assert _state_dicts_equal(stable0.pipeline.image_encoder, clip0.vision)
    # the text encoder is the tiny CLIP's text tower without its projection
    ids = clip0.tokenizer(["a photo of the cat"], padding="max_length",
                          return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(stable0.pipeline.text_encoder(ids).last_hidden_state,
                                   clip0.text(ids).last_hidden_state)


def test_stable_unclip_runs_end_to_end(stable0):
    pipe = stable0.pipeline
    image = generated_images(1, 48, 11)[0]
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    kwargs = {"prompt": "a cat", "num_inference_steps": 2, "latents": latents,
              "output_type": "np"}
    out = pipe(image=image, generator=torch.Generator().manual_seed(0), **kwargs).images
    again = pipe(image=image, generator=torch.Generator().manual_seed(0), **kwargs).images
    assert out.shape == (1, 32, 32, 3) and np.isfinite(out).all()
    assert np.array_equal(out, again)
    pixels = stable0.clip.image_processor(images=image, return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds = stable0.clip.vision(pixel_values=pixels).image_embeds
    via_embeds = pipe(image_embeds=embeds, generator=torch.Generator().manual_seed(0),
                      **kwargs).images
    np.testing.assert_allclose(out, via_embeds, atol=1e-5)


def test_stable_unclip_save_round_trip(tmp_path, stable0):
    folder = save_tiny_stable_unclip(tmp_path / "stable-unclip", seed=0)
    assert isinstance(folder, Path)
    assert json.loads((folder / "model_index.json").read_text())["image_normalizer"] == [
        "stable_diffusion", "StableUnCLIPImageNormalizer"]
    loaded = StableUnCLIPImg2ImgPipeline.from_pretrained(folder, local_files_only=True)
    for name in ("unet", "vae", "text_encoder", "image_encoder", "image_normalizer"):
        assert _state_dicts_equal(getattr(loaded, name), getattr(stable0.pipeline, name)), name
