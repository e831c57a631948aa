"""Tests for vslerp.means against one-shot float64 numpy oracles written here."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open

from vslerp import __version__
from vslerp.errors import InputError
from vslerp.fileio import save_embeddings
from vslerp.means import (
    MEAN_FORMAT,
    MEAN_FORMAT_VERSION,
    MeanAccumulator,
    ModalityMean,
    convert_legacy_mean,
)

FAST = settings(max_examples=25, deadline=None)


def clip_like(n: int, d: int, *, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Rows around an offset centre, like raw CLIP embeddings (‖m‖ comparable to the spread)."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(d)
    return (centre + 0.7 * rng.standard_normal((n, d))).astype(dtype)


def oracle(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-shot float64 mean, unit mean and population std."""
    X64 = np.asarray(X, dtype=np.float64)
    unit = X64 / np.sqrt((X64 * X64).sum(axis=1, keepdims=True))
    return X64.mean(axis=0), unit.mean(axis=0), X64.std(axis=0)


def assert_matches(mean: ModalityMean, X, tol: float = 1e-12) -> None:
    m, u, s = oracle(X)
    np.testing.assert_allclose(mean.mean, m, rtol=0, atol=tol)
    assert mean.unit_mean is not None and mean.std is not None
    np.testing.assert_allclose(mean.unit_mean, u, rtol=0, atol=tol)
    np.testing.assert_allclose(mean.std, s, rtol=0, atol=tol)
    assert mean.count == len(X)


# ---------------------------------------------------------------------------------------------
# MeanAccumulator / from_embeddings


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
def test_from_embeddings_equals_one_shot(dtype):
    X = clip_like(1000, 24, seed=1, dtype=np.float64)
    X = (X * 50).astype(dtype) if dtype is np.int32 else X.astype(dtype)
    mean = ModalityMean.from_embeddings(X, encoder="enc", modality="text", source="s",
                                        block_size=96)
    assert_matches(mean, X)
    assert mean.mean.dtype == np.float64 and mean.dim == 24
    assert (mean.encoder, mean.modality, mean.source) == ("enc", "text", "s")


def test_sharded_updates_and_merge_equal_one_shot():
    X = clip_like(5003, 32, seed=2)
    one = MeanAccumulator()
    one.update(X)
    workers = [MeanAccumulator(32) for _ in range(3)]
    for i, shard in enumerate(np.array_split(X, 11)):
        workers[i % 3].update(shard, block_size=37)
    total = workers[0].merge(workers[1]).merge(workers[2])
    # the shards were assigned round-robin, so the order of rows differs from X: same sums.
    a = total.compute(encoder="e", modality="image")
    b = one.compute(encoder="e", modality="image")
    assert_matches(a, X)
    assert_matches(b, X)
    assert total.count == one.count == 5003


@FAST
@given(cuts=st.lists(st.integers(min_value=1, max_value=299), max_size=6),
       block=st.integers(min_value=1, max_value=400))
def test_any_partition_gives_the_same_statistics(cuts, block):
    X = clip_like(300, 8, seed=3, dtype=np.float64)
    acc = MeanAccumulator()
    for part in np.split(X, sorted(set(cuts))):
        if len(part):
            acc.update(part, block_size=block)
    assert_matches(acc.compute(encoder="e", modality="image"), X)


def test_std_is_accurate_with_a_large_offset():
    """Sums of squares minus squared sums would lose most digits here; the update must not."""
    rng = np.random.default_rng(4)
    X = 1e6 + rng.standard_normal((4000, 5))
    acc = MeanAccumulator()
    for part in np.array_split(X, 7):
        acc.update(part, block_size=100)
    std = acc.compute(encoder="e", modality="image").std
    np.testing.assert_allclose(std, X.std(axis=0), rtol=1e-9)


def test_torch_inputs_any_float_dtype():
    X = clip_like(200, 16, seed=5)
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        t = torch.from_numpy(X).to(dtype)
        acc = MeanAccumulator().update(t)
        assert_matches(acc.compute(encoder="e", modality="image"), t.double().numpy())


def test_update_rejects_bad_rows_and_leaves_state_unchanged():
    X = clip_like(300, 8, seed=6)
    acc = MeanAccumulator().update(X[:10])
    before = acc.raw_sum
    bad = X.copy()
    bad[257] = 0.0
    with pytest.raises(InputError, match=r"row\(s\) 257 have zero norm"):
        acc.update(bad, block_size=100)
    bad = X.copy()
    bad[3, 2] = np.nan
    bad[150, 0] = np.inf
    with pytest.raises(InputError, match=r"row\(s\) 3, 150 contain NaN/Inf"):
        acc.update(bad)
    assert acc.count == 10
    np.testing.assert_array_equal(acc.raw_sum, before)


def test_update_validates_shape_and_dimension():
    acc = MeanAccumulator(8)
    with pytest.raises(InputError, match="2-D"):
        acc.update(np.ones(8))
    with pytest.raises(InputError, match="D=8"):
        acc.update(np.ones((3, 9)))
    with pytest.raises(InputError, match="numeric"):
        acc.update(np.array([["a"] * 8]))
    with pytest.raises(InputError, match="block_size"):
        acc.update(np.ones((3, 8)), block_size=0)
    with pytest.raises(InputError, match="dim"):
        MeanAccumulator(0)


def test_merge_checks_and_keeps_other_unchanged():
    a = MeanAccumulator().update(clip_like(10, 4, seed=7))
    b = MeanAccumulator().update(clip_like(10, 5, seed=7))
    with pytest.raises(InputError, match="D=5"):
        a.merge(b)
    with pytest.raises(InputError, match="MeanAccumulator"):
        a.merge("nope")  # type: ignore[arg-type]
    c = MeanAccumulator().update(clip_like(6, 4, seed=8))
    c_sum = c.raw_sum
    a.merge(c).merge(MeanAccumulator())
    assert a.count == 16 and c.count == 6
    np.testing.assert_array_equal(c.raw_sum, c_sum)
    empty = MeanAccumulator()
    with pytest.raises(InputError, match="no rows"):
        empty.compute(encoder="e", modality="image")


def test_reset_forgets_rows():
    acc = MeanAccumulator().update(clip_like(10, 4))
    acc.reset()
    assert acc.count == 0
    X = clip_like(20, 4, seed=9)
    assert_matches(acc.update(X).compute(encoder="e", modality="image"), X)


def test_memory_does_not_grow_with_n():
    def peak(n: int) -> int:
        X = clip_like(n, 64, seed=10)
        acc = MeanAccumulator()
        tracemalloc.start()
        acc.update(X, block_size=256)
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    small, large = peak(2_000), peak(40_000)
    assert large < 1.5 * small + 64_000, (small, large)
    assert large < 40_000 * 64 * 4 / 10  # far below one copy of X


# ---------------------------------------------------------------------------------------------
# ModalityMean validation


def test_modality_mean_validation():
    m = np.arange(1.0, 5.0)
    with pytest.raises(InputError, match="all zeros"):
        ModalityMean(mean=np.zeros(4), encoder="e", modality="image")
    with pytest.raises(InputError, match="NaN/Inf"):
        ModalityMean(mean=np.array([1.0, np.nan]), encoder="e", modality="image")
    with pytest.raises(InputError, match="1-D"):
        ModalityMean(mean=np.ones((2, 2)), encoder="e", modality="image")
    with pytest.raises(InputError, match="shape"):
        ModalityMean(mean=m, unit_mean=np.full(3, 0.1), encoder="e", modality="image")
    with pytest.raises(InputError, match="norm > 1"):
        ModalityMean(mean=m, unit_mean=np.full(4, 0.6), encoder="e", modality="image")
    with pytest.raises(InputError, match="negative"):
        ModalityMean(mean=m, std=-np.ones(4), encoder="e", modality="image")
    with pytest.raises(InputError, match="modality"):
        ModalityMean(mean=m, encoder="e", modality="audio")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="count"):
        ModalityMean(mean=m, encoder="e", modality="image", count=-1)
    with pytest.raises(InputError, match="encoder"):
        ModalityMean(mean=m, encoder=" ", modality="image")


def test_modality_mean_arrays_are_read_only_copies():
    src = np.arange(1.0, 5.0)
    mean = ModalityMean(mean=src, encoder="e", modality="image")
    src[0] = 100.0
    assert mean.mean[0] == 1.0
    with pytest.raises(ValueError):
        mean.mean[0] = 5.0
    assert mean.norm == pytest.approx(np.sqrt(1 + 4 + 9 + 16))


# ---------------------------------------------------------------------------------------------
# safetensors I/O


def test_save_load_round_trip(tmp_path: Path):
    X = clip_like(50, 12, seed=11)
    mean = ModalityMean.from_embeddings(X, encoder="openclip:ViT-B-32/openai", modality="text",
                                        source="coco captions ✓")
    path = mean.save(tmp_path / "sub" / "m.safetensors")
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors"]  # no temp files
    back = ModalityMean.load(path, dim=12, encoder="openclip:ViT-B-32/openai")
    for name in ("mean", "unit_mean", "std"):
        np.testing.assert_array_equal(getattr(back, name), getattr(mean, name))
    assert (back.encoder, back.modality, back.source, back.count) == (
        mean.encoder, "text", "coco captions ✓", 50)
    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata()
    assert meta["format"] == MEAN_FORMAT and meta["format_version"] == MEAN_FORMAT_VERSION
    assert meta["vslerp_version"] == __version__ and meta["count"] == "50"


def test_raw_only_mean_round_trip(tmp_path: Path):
    mean = ModalityMean(mean=np.arange(1.0, 4.0), encoder="e", modality="image", source="prior")
    back = ModalityMean.load(mean.save(tmp_path / "m.safetensors"))
    assert back.unit_mean is None and back.std is None and back.count == 0
    np.testing.assert_array_equal(back.mean, mean.mean)


def test_load_checks_dimension_and_encoder(tmp_path: Path):
    path = ModalityMean(mean=np.ones(8), encoder="enc-a", modality="image").save(
        tmp_path / "m.safetensors")
    with pytest.raises(InputError, match=r"m\.safetensors holds a D=8 mean.*expected D=16"):
        ModalityMean.load(path, dim=16)
    with pytest.raises(InputError, match=r"computed with encoder 'enc-a', not 'enc-b'"):
        ModalityMean.load(path, encoder="enc-b")


def test_load_refuses_other_files(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        ModalityMean.load(tmp_path / "missing.safetensors")
    plain = save_embeddings(tmp_path / "emb.safetensors", np.ones((2, 3), np.float32))
    with pytest.raises(InputError, match="not a vslerp modality-mean file"):
        ModalityMean.load(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 40)
    with pytest.raises(InputError, match="cannot read"):
        ModalityMean.load(junk)
    with pytest.raises(InputError, match=r"\.safetensors"):
        ModalityMean(mean=np.ones(2), encoder="e", modality="image").save(tmp_path / "m.npy")


# ---------------------------------------------------------------------------------------------
# priors and legacy files


def test_from_clip_mean_accepts_row_tensor():
    clip_mean = torch.linspace(-1, 2, 10).reshape(1, 10)
    mean = ModalityMean.from_clip_mean(clip_mean, encoder="karlo", source="prior",
                                       clip_std=torch.ones(1, 10))
    np.testing.assert_array_equal(mean.mean, clip_mean.double().numpy()[0])
    assert mean.unit_mean is None and mean.modality == "image" and mean.count == 0
    np.testing.assert_array_equal(mean.std, np.ones(10))


@pytest.mark.parametrize("bad", [torch.zeros(1, 6), torch.full((6,), float("nan"))])
def test_from_clip_mean_refuses_unusable_priors(bad):
    with pytest.raises(InputError, match="no usable mean"):
        ModalityMean.from_clip_mean(bad, encoder="e", source="prior")


def test_from_clip_mean_checks_shapes():
    with pytest.raises(InputError, match=r"\(D,\) or \(1, D\)"):
        ModalityMean.from_clip_mean(torch.ones(2, 6), encoder="e", source="p")
    with pytest.raises(InputError, match="clip_std"):
        ModalityMean.from_clip_mean(torch.ones(6), encoder="e", source="p",
                                    clip_std=torch.ones(5))


def test_convert_legacy_mean_tensor_and_dict(tmp_path: Path):
    values = torch.randn(1, 768, dtype=torch.float64)
    torch.save(values, tmp_path / "mean_feat.pt")
    mean = convert_legacy_mean(tmp_path / "mean_feat.pt", encoder="ViT-L/14", modality="image")
    np.testing.assert_array_equal(mean.mean, values.numpy()[0])
    assert mean.dim == 768 and mean.unit_mean is None and "mean_feat.pt" in mean.source
    torch.save({"mean": values[0].float(), "note": 3}, tmp_path / "d.pt")
    from_dict = convert_legacy_mean(tmp_path / "d.pt", encoder="e", modality="text", source="x")
    np.testing.assert_array_equal(from_dict.mean, values[0].float().double().numpy())
    assert from_dict.source == "x" and from_dict.modality == "text"


@pytest.mark.parametrize("content", [
    torch.ones(2, 5), [torch.ones(5)], {"a": torch.ones(5), "b": torch.ones(5)}, {"a": 1},
    torch.zeros(5), torch.ones(5, dtype=torch.int64),
])
def test_convert_legacy_mean_refuses_other_contents(tmp_path: Path, content):
    torch.save(content, tmp_path / "x.pt")
    with pytest.raises(InputError, match=r"x\.pt"):
        convert_legacy_mean(tmp_path / "x.pt", encoder="e", modality="image")


class _Payload:
    """Unpickling this would create a file: the weights_only loader must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_convert_legacy_mean_refuses_arbitrary_pickles(tmp_path: Path):
    marker = tmp_path / "executed"
    torch.save({"mean": torch.ones(4), "x": _Payload(marker)}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(InputError, match="refused"):
        convert_legacy_mean(tmp_path / "evil.pt", encoder="e", modality="image")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError):
        convert_legacy_mean(tmp_path / "nope.pt", encoder="e", modality="image")
