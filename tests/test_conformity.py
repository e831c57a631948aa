"""Tests for vslerp.conformity against oracles written here (naive double loops, float64 Gram
matrices) and against pairwise_conformity."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vslerp.conformity import (
    PAPER_FITS,
    ConformityMeter,
    EstimatorFit,
    conformity,
    estimated_conformity,
    fit_estimator,
    pairwise_conformity,
    score_embeddings,
)
from vslerp.errors import InputError
from vslerp.means import ModalityMean

FAST = settings(max_examples=30, deadline=None)
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def clip_like(n: int, d: int, *, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Rows spread around an offset centre, like raw CLIP embeddings; norms vary per row."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(d)
    X = centre + 0.8 * rng.standard_normal((n, d))
    return (X * rng.uniform(0.5, 3.0, size=(n, 1))).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Oracles


def naive_conformity(X) -> list[float]:
    """The definition, one pair at a time with math.fsum: C_j = mean_{k≠j} cos(x_j, x_k)."""
    rows = [[float(v) for v in row] for row in np.asarray(X, dtype=np.float64)]
    norms = [math.sqrt(math.fsum(v * v for v in r)) for r in rows]
    out = []
    for j, rj in enumerate(rows):
        cos = [math.fsum(a * b for a, b in zip(rj, rk, strict=True)) / (norms[j] * norms[k])
               for k, rk in enumerate(rows) if k != j]
        out.append(math.fsum(cos) / len(cos))
    return out


def gram_conformity(X) -> np.ndarray:
    """Definition via a full float64 cosine matrix (for moderate N)."""
    U = np.asarray(X, dtype=np.float64)
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    G = U @ U.T
    return (G.sum(axis=1) - np.diag(G)) / (len(U) - 1)


def outside_conformity(Y, S) -> np.ndarray:
    """Mean cosine of each row of Y to every row of the reference set S (float64)."""
    Uy = np.asarray(Y, np.float64) / np.linalg.norm(np.asarray(Y, np.float64), axis=1,
                                                    keepdims=True)
    Us = np.asarray(S, np.float64) / np.linalg.norm(np.asarray(S, np.float64), axis=1,
                                                    keepdims=True)
    return (Uy @ Us.T).mean(axis=1)


def cos_to(X, m) -> np.ndarray:
    X64 = np.asarray(X, np.float64)
    return X64 @ m / (np.linalg.norm(X64, axis=1) * np.linalg.norm(m))


# ---------------------------------------------------------------------------------------------
# exact in-set conformity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 3, 17])
def test_tiny_sets_match_the_naive_double_loop(dtype, n):
    X = clip_like(n, 9, seed=n, dtype=dtype)
    expected = np.array(naive_conformity(X))
    np.testing.assert_allclose(conformity(X), expected, rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(pairwise_conformity(X), expected, rtol=0, atol=TOL[dtype])


def test_two_rows_is_their_cosine():
    X = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(conformity(X), [1 / math.sqrt(2)] * 2, rtol=0, atol=1e-15)
    X = np.array([[2.0, 0.0], [-5.0, 0.0]])
    np.testing.assert_allclose(conformity(X), [-1.0, -1.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_closed_form_matches_pairwise_over_many_blocks(dtype):
    X = clip_like(1531, 48, seed=1, dtype=dtype)
    oracle = gram_conformity(X)
    closed = conformity(X, block_size=200)
    pair = pairwise_conformity(X, block_size=128)
    assert closed.dtype == np.float64 and closed.shape == (1531,)
    np.testing.assert_allclose(closed, oracle, rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(pair, oracle, rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(closed, pair, rtol=0, atol=TOL[dtype])


def test_clip_sized_float32_matches_pairwise():
    X = clip_like(3000, 512, seed=2)
    np.testing.assert_allclose(conformity(X), pairwise_conformity(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize("block_size", [1, 7, 64, 1000, 10_000])
def test_result_does_not_depend_on_block_size(block_size):
    X = clip_like(1000, 16, seed=3, dtype=np.float64)
    np.testing.assert_allclose(conformity(X, block_size=block_size), gram_conformity(X),
                               rtol=0, atol=1e-12)


def test_torch_inputs_match_numpy():
    X = clip_like(500, 32, seed=4)
    expected = gram_conformity(X)
    for dtype in (torch.float32, torch.float64):
        got = conformity(torch.from_numpy(X).to(dtype).requires_grad_(True), block_size=100)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    for dtype in (torch.float16, torch.bfloat16):
        t = torch.from_numpy(X).to(dtype)
        got = conformity(t, block_size=100)
        np.testing.assert_allclose(got, gram_conformity(t.double().numpy()), rtol=0, atol=1e-6)


def test_integer_and_float16_arrays():
    X = (clip_like(300, 16, seed=5, dtype=np.float64) * 40).astype(np.int64)
    np.testing.assert_allclose(conformity(X), gram_conformity(X), rtol=0, atol=1e-12)
    H = clip_like(300, 16, seed=5, dtype=np.float16)
    np.testing.assert_allclose(conformity(H), gram_conformity(H), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("dtype", "scales"), [
    (np.float32, (1e-30, 1e-18, 1.0, 1e15, 1e30)),
    (np.float64, (1e-300, 1e-150, 1.0, 1e150, 1e300)),
])
def test_extreme_row_scales_take_the_careful_path(dtype, scales):
    base = clip_like(200, 24, seed=6, dtype=np.float64)
    factors = np.array(scales)[np.arange(200) % len(scales)]
    X = (base * factors[:, None]).astype(dtype)
    assert np.isfinite(X).all() and (np.abs(X).max(axis=1) > 0).all()
    expected = gram_conformity(base.astype(dtype))
    tol = 1e-5 if dtype is np.float32 else 1e-12  # float32 rows near 1e-30 lose a few digits
    np.testing.assert_allclose(conformity(X, block_size=32), expected, rtol=0, atol=tol)
    np.testing.assert_allclose(pairwise_conformity(X, block_size=32), expected, rtol=0, atol=tol)


def test_bad_rows_are_named():
    X = clip_like(5000, 8, seed=7)
    X[4321] = 0
    with pytest.raises(InputError, match=r"row\(s\) 4321 have zero norm"):
        conformity(X, block_size=1000)
    X = clip_like(5000, 8, seed=7)
    X[2500, 3] = np.nan
    with pytest.raises(InputError, match=r"row\(s\) 2500 contain NaN/Inf"):
        conformity(X)
    X[2500, 3] = np.inf
    with pytest.raises(InputError, match=r"row\(s\) 2500 contain NaN/Inf"):
        conformity(X, reference=np.full(8, 0.1))
    with pytest.raises(InputError, match=r"row\(s\) 2500"):
        pairwise_conformity(X)


def test_input_validation():
    with pytest.raises(InputError, match="at least 2 row"):
        conformity(np.ones((1, 4)))
    with pytest.raises(InputError, match="2-D"):
        conformity(np.ones(4))
    with pytest.raises(InputError, match="numeric"):
        conformity(np.array([[True, False], [False, True]]))
    with pytest.raises(InputError, match="real"):
        conformity(torch.ones(3, 2, dtype=torch.complex64))
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InputError, match="block_size"):
            conformity(np.ones((3, 2)), block_size=bad)


# ---------------------------------------------------------------------------------------------
# properties


finite_rows = arrays(np.float64, st.tuples(st.integers(2, 12), st.integers(1, 6)),
                     elements=st.floats(-100, 100, allow_nan=False).filter(lambda v: abs(v) > 1e-3))


@FAST
@given(X=finite_rows, data=st.data())
def test_scale_invariance_per_row(X, data):
    exponents = data.draw(arrays(np.float64, (X.shape[0],), elements=st.floats(-40, 40)))
    scaled = X * (10.0 ** exponents)[:, None]
    np.testing.assert_allclose(conformity(scaled), conformity(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(conformity(scaled), np.array(naive_conformity(X)), rtol=0,
                               atol=1e-12)


@FAST
@given(X=finite_rows, data=st.data())
def test_permutation_equivariance(X, data):
    perm = np.array(data.draw(st.permutations(range(X.shape[0]))))
    np.testing.assert_allclose(conformity(X[perm]), conformity(X)[perm], rtol=0, atol=1e-12)
    np.testing.assert_allclose(pairwise_conformity(X[perm], block_size=3),
                               pairwise_conformity(X)[perm], rtol=0, atol=1e-12)


@FAST
@given(X=finite_rows)
def test_values_are_mean_cosines(X):
    c = conformity(X)
    assert np.all(np.abs(c) <= 1 + 1e-12)
    # mean over the set equals (N‖ū‖² − 1)/(N − 1)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    n = len(X)
    ubar = U.mean(axis=0)
    assert c.mean() == pytest.approx((n * ubar @ ubar - 1) / (n - 1), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# outside a reference set


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_conformity_is_mean_cosine_to_the_set(dtype):
    S = clip_like(800, 20, seed=8, dtype=dtype)
    Y = clip_like(90, 20, seed=9, dtype=dtype)
    ref = ModalityMean.from_embeddings(S, encoder="e", modality="image")
    expected = outside_conformity(Y, S)
    np.testing.assert_allclose(conformity(Y, reference=ref), expected, rtol=0, atol=TOL[dtype])
    assert ref.unit_mean is not None
    np.testing.assert_allclose(conformity(Y, ref.unit_mean), expected, rtol=0, atol=TOL[dtype])
    one = conformity(Y[:1], ref)
    assert one.shape == (1,)


def test_reference_errors():
    Y = clip_like(5, 4, seed=10)
    raw_only = ModalityMean(mean=np.ones(4), encoder="e", modality="image")
    with pytest.raises(InputError, match="only estimated conformity"):
        conformity(Y, reference=raw_only)
    with pytest.raises(InputError, match="dimension 3"):
        conformity(Y, reference=np.full(3, 0.1))
    with pytest.raises(InputError, match="norm > 1"):
        conformity(Y, reference=np.ones(4))


# ---------------------------------------------------------------------------------------------
# estimated conformity and the fit


def test_estimated_conformity_is_a_cos_plus_b():
    X = clip_like(400, 16, seed=11)
    m = np.random.default_rng(12).standard_normal(16) + 1
    np.testing.assert_allclose(estimated_conformity(X, m), cos_to(X, m), rtol=0, atol=1e-6)
    np.testing.assert_allclose(estimated_conformity(X, m, 1.461, -0.002, block_size=33),
                               1.461 * cos_to(X, m) - 0.002, rtol=0, atol=2e-6)
    mm = ModalityMean(mean=m, encoder="e", modality="image")
    a, b, _ = PAPER_FITS["text"]
    np.testing.assert_allclose(estimated_conformity(X.astype(np.float64), mm, a, b),
                               1.411 * cos_to(X, m) - 0.008, rtol=0, atol=1e-12)
    with pytest.raises(InputError, match="all zeros"):
        estimated_conformity(X, np.zeros(16))
    with pytest.raises(InputError, match="dimension"):
        estimated_conformity(X, np.ones(3))
    with pytest.raises(InputError, match="finite"):
        estimated_conformity(X, m, a=float("nan"))


def test_fit_estimator_matches_least_squares_oracle():
    X = clip_like(1200, 64, seed=13, dtype=np.float64)
    exact = gram_conformity(X)
    m = X.mean(axis=0)
    c = cos_to(X, m)
    A = np.stack([c, np.ones_like(c)], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, exact, rcond=None)
    fit = fit_estimator(X)
    assert isinstance(fit, EstimatorFit)
    assert fit.a == pytest.approx(a, abs=1e-9)
    assert fit.b == pytest.approx(b, abs=1e-9)
    assert fit.pearson == pytest.approx(np.corrcoef(c, exact)[0, 1], abs=1e-12)
    # with an explicit mean
    m2 = m + 0.3
    fit2 = fit_estimator(X.astype(np.float32), ModalityMean(mean=m2, encoder="e",
                                                            modality="image"))
    c2 = cos_to(X, m2)
    (a2, b2), *_ = np.linalg.lstsq(np.stack([c2, np.ones_like(c2)], 1), exact, rcond=None)
    assert fit2.a == pytest.approx(a2, abs=1e-4) and fit2.b == pytest.approx(b2, abs=1e-4)


def test_fit_estimator_refuses_constant_cosines():
    # every row points the same way: cos(mean, x) = 1 everywhere, no line can be fitted
    X = np.outer(np.arange(1.0, 6.0), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(InputError, match="cannot fit"):
        fit_estimator(X)


# ---------------------------------------------------------------------------------------------
# ConformityMeter


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_meter_sharded_updates_and_merge_equal_pairwise(dtype):
    X = clip_like(2000, 32, seed=14, dtype=dtype)
    oracle = pairwise_conformity(X)
    shards = np.array_split(X, 5)
    meters = [ConformityMeter(encoder="enc") for _ in range(2)]
    for i, shard in enumerate(shards):
        meters[i % 2].update(torch.from_numpy(shard) if i == 3 else shard)
    meter = meters[0].merge(meters[1])
    one_shot = ConformityMeter().update(X)
    result = meter.compute()
    assert result.n == one_shot.compute().n == 2000
    assert result.mean_conformity == pytest.approx(oracle.mean(), abs=TOL[dtype])
    assert result.mean_conformity == pytest.approx(one_shot.compute().mean_conformity,
                                                   abs=1e-12)
    scores = np.concatenate([meter.scores(s, block_size=97) for s in shards])
    np.testing.assert_allclose(scores, oracle, rtol=0, atol=TOL[dtype])
    U = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    np.testing.assert_allclose(result.reference.unit_mean, U.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.reference.mean, X.astype(np.float64).mean(0), rtol=0,
                               atol=1e-12)
    assert result.reference.encoder == "enc" and result.reference.count == 2000
    # the reference from the meter scores new samples like the outside-set oracle
    Y = clip_like(10, 32, seed=15, dtype=dtype)
    np.testing.assert_allclose(conformity(Y, result.reference), outside_conformity(Y, X),
                               rtol=0, atol=TOL[dtype])


def test_meter_reset_and_errors():
    meter = ConformityMeter()
    with pytest.raises(InputError, match="at least 2"):
        meter.compute()
    meter.update(np.ones((1, 3)))
    with pytest.raises(InputError, match="at least 2"):
        meter.scores(np.ones((1, 3)))
    X = clip_like(50, 3, seed=16, dtype=np.float64)
    meter.reset()
    meter.update(X)
    np.testing.assert_allclose(meter.scores(X), gram_conformity(X), rtol=0, atol=1e-12)
    with pytest.raises(InputError, match="D=3"):
        meter.scores(np.ones((2, 4)))
    with pytest.raises(InputError, match="D=3"):
        meter.merge(ConformityMeter().update(np.ones((2, 4))))
    with pytest.raises(InputError, match="ConformityMeter"):
        meter.merge(object())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="modality"):
        ConformityMeter(modality="audio")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# score_embeddings


def test_score_embeddings_in_set():
    X = clip_like(300, 16, seed=17, dtype=np.float64)
    scores = score_embeddings(X, ids=[f"s{i}" for i in range(300)])
    exact = gram_conformity(X)
    np.testing.assert_allclose(scores.conformity, exact, rtol=0, atol=1e-12)
    fit = fit_estimator(X)
    assert scores.fit == pytest.approx(fit)
    c = cos_to(X, X.mean(0))
    np.testing.assert_allclose(scores.estimated, fit.a * c + fit.b, rtol=0, atol=1e-12)
    summary = scores.summary()
    assert summary["n"] == 300 and summary["reference"] == "in-set"
    assert summary["conformity"]["median"] == pytest.approx(np.median(exact), abs=1e-12)
    assert summary["conformity"]["std"] == pytest.approx(exact.std(), abs=1e-12)
    rows = list(scores.rows())
    assert scores.header() == ["id", "conformity", "estimated"]
    assert rows[5][0] == "s5" and rows[5][1] == pytest.approx(exact[5], abs=1e-12)


def test_score_embeddings_against_a_reference_and_a_single_row():
    S = clip_like(400, 16, seed=18)
    ref = ModalityMean.from_embeddings(S, encoder="enc", modality="image", source="S")
    Y = clip_like(40, 16, seed=19)
    scores = score_embeddings(Y, reference=ref, items=[f"img{i}.png" for i in range(40)])
    np.testing.assert_allclose(scores.conformity, outside_conformity(Y, S), rtol=0, atol=1e-6)
    assert scores.header() == ["id", "item", "conformity", "estimated"]
    assert scores.summary()["reference"]["encoder"] == "enc"
    single = score_embeddings(Y[:1], reference=ref)
    assert single.fit is None and np.isnan(single.estimated).all()
    assert single.summary()["a"] is None and next(iter(single.rows()))[2] is None
    with pytest.raises(InputError, match="ids"):
        score_embeddings(Y, ids=["a"])
    with pytest.raises(InputError, match="D=16"):
        score_embeddings(np.ones((3, 5)), reference=ref)


# ---------------------------------------------------------------------------------------------
# memory


def test_extra_memory_is_blocks_plus_output_not_n_by_d():
    n, d, block = 30_000, 64, 256
    X = clip_like(n, d, seed=20)
    tracemalloc.start()
    conformity(X, block_size=block)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * n + 8 * block * d + 200_000, peak
    assert peak < X.nbytes / 10
