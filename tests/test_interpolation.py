"""Tests for vslerp.interpolation against independent float64 oracles written here."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vslerp.errors import InputError
from vslerp.interpolation import (
    ANTIPARALLEL_EPS,
    INTERPOLATORS,
    SMALL_ANGLE,
    angle,
    lerp,
    slerp,
    vslerp,
)

FAST = settings(max_examples=40, deadline=None)

# ---------------------------------------------------------------------------------------------
# Oracles: plain Python floats and the math module, one element at a time.


def ref_angle(v0, v1) -> float:
    """Angle between two vectors from the exactly summed dot product of their unit vectors."""
    v0, v1 = [float(x) for x in v0], [float(x) for x in v1]
    n0 = math.sqrt(math.fsum(x * x for x in v0))
    n1 = math.sqrt(math.fsum(x * x for x in v1))
    cos = math.fsum(x * y for x, y in zip(v0, v1, strict=True)) / (n0 * n1)
    return math.acos(max(-1.0, min(1.0, cos)))


def ref_slerp(v0, v1, t: float) -> np.ndarray:
    """SLERP of raw vectors, straight from the paper's formula."""
    omega = ref_angle(v0, v1)
    if omega == 0.0:
        w0, w1 = 1.0 - t, t
    else:
        w0 = math.sin((1.0 - t) * omega) / math.sin(omega)
        w1 = math.sin(t * omega) / math.sin(omega)
    return np.array([w0 * float(x) + w1 * float(y) for x, y in zip(v0, v1, strict=True)])


def ref_vslerp(v0, v1, t: float, alpha: float, mean) -> np.ndarray:
    shift = [alpha * float(m) for m in mean]
    a = [float(x) - s for x, s in zip(v0, shift, strict=True)]
    b = [float(x) - s for x, s in zip(v1, shift, strict=True)]
    return ref_slerp(a, b, t) + np.array(shift)


def buggy_elementwise_slerp(v0: np.ndarray, v1: np.ndarray, t: float) -> np.ndarray:
    """The public unCLIP bug: acos taken per element instead of on the summed dot product."""
    u0, u1 = v0 / np.linalg.norm(v0), v1 / np.linalg.norm(v1)
    omega = np.arccos(np.clip(u0 * u1, -1.0, 1.0))  # one "angle" per element
    return (np.sin((1 - t) * omega) * v0 + np.sin(t * omega) * v1) / np.sin(omega)


def bits(x) -> np.ndarray:
    """The raw bit patterns of an array or tensor (so -0.0 != 0.0 and any ulp counts)."""
    if isinstance(x, torch.Tensor):
        ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]
        return x.detach().cpu().contiguous().view(ints).numpy()
    return np.ascontiguousarray(x).view(f"i{x.dtype.itemsize}")


def as_f64(x) -> np.ndarray:
    return x.double().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)


def assert_close(out, ref, scale: float, tol: float) -> None:
    err = float(np.max(np.abs(as_f64(out) - np.asarray(ref, dtype=np.float64))))
    assert err <= tol * scale, f"max abs error {err:.3e} > {tol:.1e} * {scale:.3e}"


# ---------------------------------------------------------------------------------------------
# Strategies

dims = st.integers(min_value=2, max_value=12)


@st.composite
def vector_pairs(draw, *, batch: int | None = None, dim: int | None = None):
    """Two float64 arrays (D,) or (B, D) with entries in [-4, 4]."""
    d = draw(dims) if dim is None else dim
    shape = (d,) if batch is None else (batch, d)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale0, scale1 = draw(st.floats(0.1, 4.0)), draw(st.floats(0.1, 4.0))
    return rng.normal(size=shape) * scale0, rng.normal(size=shape) * scale1


def well_separated(v0, v1, lo: float = 1e-3, hi: float = math.pi - 1e-2) -> bool:
    """Angle in [lo, hi] for every row: the acos oracle is accurate there."""
    rows = zip(np.atleast_2d(v0), np.atleast_2d(v1), strict=True)
    return all(lo <= ref_angle(a, b) <= hi for a, b in rows)


ts = st.floats(-0.5, 1.5)


# ---------------------------------------------------------------------------------------------
# Correctness against the oracles


@FAST
@given(pair=vector_pairs(), t=ts)
def test_slerp_matches_elementwise_reference(pair, t):
    v0, v1 = pair
    assume(well_separated(v0, v1))
    scale = (1 + abs(t)) * max(np.linalg.norm(v0), np.linalg.norm(v1))
    assert_close(slerp(v0, v1, t), ref_slerp(v0, v1, t), scale, 1e-10)


@FAST
@given(pair=vector_pairs(), t=ts, alpha=st.floats(-2.0, 2.0), mean_seed=st.integers(0, 99))
def test_vslerp_matches_shifted_reference(pair, t, alpha, mean_seed):
    v0, v1 = pair
    mean = np.random.default_rng(mean_seed).normal(size=v0.shape) * 3
    assume(well_separated(v0 - alpha * mean, v1 - alpha * mean))
    out = vslerp(v0, v1, t, alpha=alpha, mean=mean)
    scale = (1 + abs(t)) * (max(np.linalg.norm(v0), np.linalg.norm(v1)) + 3 * np.linalg.norm(mean))
    assert_close(out, ref_vslerp(v0, v1, t, alpha, mean), scale, 1e-10)


@FAST
@given(pair=vector_pairs(), t=ts)
def test_unit_vectors_rotate_in_their_plane(pair, t):
    """Geometric oracle: u(t) = cos(tΩ)·u0 + sin(tΩ)·w with w from Gram–Schmidt."""
    u0, u1 = (v / np.linalg.norm(v) for v in pair)
    assume(well_separated(u0, u1))
    omega = math.acos(float(np.clip(u0 @ u1, -1, 1)))
    w = u1 - (u0 @ u1) * u0
    w /= np.linalg.norm(w)
    assert_close(slerp(u0, u1, t), math.cos(t * omega) * u0 + math.sin(t * omega) * w,
                 1 + abs(t), 1e-9)


def test_extrapolation_continues_along_the_great_circle():
    e0, e1 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    out = slerp(e0, e1, [2.0, -1.0])  # Ω = π/2: t = 2 reaches -e0, t = -1 reaches -e1
    assert_close(out, np.array([-e0, -e1]), 1.0, 1e-15)


def planar_pair(theta: float, dim: int = 4) -> tuple[np.ndarray, np.ndarray, float]:
    """v0 = e0 and v1 = (cos θ, sin θ, 0, ...) with the angle θ' they really have in float64."""
    v0, v1 = np.zeros(dim), np.zeros(dim)
    v0[0] = 1.0
    v1[0], v1[1] = math.cos(theta), math.sin(theta)
    return v0, v1, math.atan2(v1[1], v1[0])


@pytest.mark.parametrize("theta", [math.pi - 1e-3, math.pi - 1e-5, math.pi - 2 * ANTIPARALLEL_EPS,
                                   1e-5, 1.1 * SMALL_ANGLE, 0.9 * SMALL_ANGLE, 1e-12])
def test_accurate_near_zero_and_pi(theta):
    """Exact geometry in the plane: an arccos of the rounded cosine would be off by ~1e-6 near
    π (its error grows like u/(π − Ω)²); the result must stay within 1e-9 here."""
    v0, v1, true_theta = planar_pair(theta)
    t = np.array([0.1, 0.3, 0.5, 0.9])
    w0 = np.sin((1 - t) * true_theta) / math.sin(true_theta)
    w1 = np.sin(t * true_theta) / math.sin(true_theta)
    assert_close(slerp(v0, v1, t), w0[:, None] * v0 + w1[:, None] * v1, 1.0, 1e-9)
    assert abs(float(angle(v0, v1)) - true_theta) <= 1e-15 * max(1.0, true_theta) * 4


def test_parallel_vectors_fall_back_to_lerp():
    v0 = np.array([0.5, -1.0, 2.0])
    t = [0.0, 0.25, 0.5, 1.0]
    expected = np.array([(1 - s) * v0 + s * 3 * v0 for s in t])
    assert_close(slerp(v0, 3 * v0, t), expected, 6.0, 1e-15)
    np.testing.assert_array_equal(slerp(v0, v0.copy(), t), np.tile(v0, (4, 1)))


def test_elementwise_acos_bug_is_absent():
    """Vectors far from the origin (CLIP-like mean offset): the summed-angle SLERP keeps the
    predicted mid-path norm; the element-wise-acos variant inflates it."""
    rng = np.random.default_rng(7)
    mean = rng.normal(size=512) * 0.5 + 1.0
    v0 = mean + 0.3 * rng.normal(size=512)
    v1 = mean + 0.3 * rng.normal(size=512)
    predicted = np.linalg.norm(ref_slerp(v0, v1, 0.5))
    ours = np.linalg.norm(slerp(v0, v1, 0.5))
    buggy = np.linalg.norm(buggy_elementwise_slerp(v0, v1, 0.5))
    assert abs(ours / predicted - 1) < 1e-9
    assert buggy / predicted > 1.2  # the check above would catch the bug


def test_lerp_matches_formula_and_accepts_zero_and_antiparallel():
    v0 = np.array([1.0, 2.0, -3.0])
    for v1 in (-2 * v0, np.zeros(3), np.array([0.5, 0.0, 4.0])):
        for t in (-0.5, 0.3, 1.7):
            expected = [(1 - t) * x + t * y for x, y in zip(v0, v1, strict=True)]
            assert_close(lerp(v0, v1, t), expected, 10.0, 1e-15)


# ---------------------------------------------------------------------------------------------
# Properties


@st.composite
def dtype_pairs(draw):
    """Same-valued pairs in every supported dtype/container: (v0, v1, container)."""
    kind = draw(st.sampled_from(["np16", "np32", "np64", "t16", "tbf16", "t32", "t64"]))
    batch = draw(st.sampled_from([None, 3]))
    v0, v1 = draw(vector_pairs(batch=batch))
    if kind.startswith("np"):
        dtype = {"np16": np.float16, "np32": np.float32, "np64": np.float64}[kind]
        return v0.astype(dtype), v1.astype(dtype)
    dtype = {"t16": torch.float16, "tbf16": torch.bfloat16, "t32": torch.float32,
             "t64": torch.float64}[kind]
    return torch.from_numpy(v0).to(dtype), torch.from_numpy(v1).to(dtype)


@FAST
@given(pair=dtype_pairs(), inner=st.lists(st.floats(0.05, 0.95), max_size=3),
       alpha=st.lists(st.floats(-2, 2), min_size=1, max_size=3))
def test_endpoints_are_the_inputs_bit_for_bit(pair, inner, alpha):
    v0, v1 = pair
    assume(well_separated(as_f64(v0), as_f64(v1)))
    mean = np.linspace(-1.0, 1.0, v0.shape[-1]) * 0.1
    assume(all(well_separated(as_f64(v0) - a * mean, as_f64(v1) - a * mean) for a in alpha))
    t = [0.0, *inner, 1.0]
    batched = v0.ndim == 2
    for out in (slerp(v0, v1, t)[..., None, :], lerp(v0, v1, t)[..., None, :],
                vslerp(v0, v1, t, alpha=alpha, mean=mean)):
        first = out[:, 0] if batched else out[0]  # (B?, K, D)
        last = out[:, -1] if batched else out[-1]
        for k in range(out.shape[-2]):
            np.testing.assert_array_equal(bits(first[..., k, :]), bits(v0))
            np.testing.assert_array_equal(bits(last[..., k, :]), bits(v1))


@FAST
@given(pair=vector_pairs(), t=ts)
def test_symmetry(pair, t):
    v0, v1 = pair
    assume(well_separated(v0, v1))
    scale = (1 + abs(t)) * max(np.linalg.norm(v0), np.linalg.norm(v1))
    assert_close(slerp(v0, v1, t), slerp(v1, v0, 1 - t), scale, 1e-12)


@FAST
@given(pair=vector_pairs(), radius=st.floats(0.1, 10.0))
def test_constant_angular_speed_and_norm_for_equal_norms(pair, radius):
    u0, u1 = (v / np.linalg.norm(v) for v in pair)
    assume(well_separated(u0, u1, lo=0.1))
    v0, v1 = radius * u0, radius * u1
    out = slerp(v0, v1, np.linspace(0.0, 1.0, 6))
    omega = ref_angle(v0, v1)
    steps = [ref_angle(out[i], out[i + 1]) for i in range(5)]
    np.testing.assert_allclose(steps, omega / 5, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), radius, rtol=1e-12)


@FAST
@given(pair=dtype_pairs(), t=st.one_of(ts, st.lists(ts, min_size=1, max_size=4)),
       others=st.lists(st.floats(-2, 2), max_size=3))
def test_alpha_zero_is_bitwise_slerp(pair, t, others):
    v0, v1 = pair
    assume(well_separated(as_f64(v0), as_f64(v1)))
    mean = np.random.default_rng(0).normal(size=v0.shape[-1])
    alphas = [*others, 0.0]
    assume(all(well_separated(as_f64(v0) - a * mean, as_f64(v1) - a * mean) for a in alphas))
    expected = bits(slerp(v0, v1, t))
    np.testing.assert_array_equal(bits(vslerp(v0, v1, t, alpha=0.0, mean=mean)), expected)
    grid = vslerp(v0, v1, t, alpha=alphas, mean=mean)
    np.testing.assert_array_equal(bits(grid[..., -1, :]), expected)


def test_alpha_zero_keeps_signed_zeros():
    """x − 0·m and x + 0·m can turn -0.0 into +0.0; α = 0 must not touch the vectors at all."""
    v0, v1 = np.array([-0.0, 1.0, 2.0]), np.array([-0.0, 2.0, -1.0])
    mean = np.array([-1.0, 1.0, 1.0])
    expected = bits(slerp(v0, v1, [0.3, 0.6]))
    assert (expected[:, 0] == bits(np.array(-0.0))).all()
    np.testing.assert_array_equal(bits(vslerp(v0, v1, [0.3, 0.6], alpha=0.0, mean=mean)),
                                  expected)


@FAST
@given(pair=vector_pairs(), t=st.lists(ts, min_size=1, max_size=4),
       alpha=st.lists(st.floats(-3, 3), min_size=1, max_size=3))
def test_zero_mean_vslerp_equals_slerp(pair, t, alpha):
    v0, v1 = pair
    assume(well_separated(v0, v1))
    out = vslerp(v0, v1, t, alpha=alpha, mean=np.zeros(v0.shape[-1]))
    for k in range(len(alpha)):
        np.testing.assert_array_equal(out[:, k], slerp(v0, v1, t))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, np.float16])
def test_half_precision_inputs_give_finite_outputs_of_their_dtype(dtype):
    rng = np.random.default_rng(3)
    v0, v1 = rng.normal(size=(2, 4, 64)) + 1.0  # offset from the origin, like CLIP embeddings
    mean = 1.0 + 0.1 * rng.normal(size=64)
    if isinstance(dtype, torch.dtype):
        v0, v1 = torch.from_numpy(v0).to(dtype), torch.from_numpy(v1).to(dtype)
        eps = torch.finfo(dtype).eps
    else:
        v0, v1 = v0.astype(dtype), v1.astype(dtype)
        eps = float(np.finfo(dtype).eps)
    t, alpha = np.linspace(0, 1, 5), [-1.0, 0.0, 1.5]
    for out, ref in (
        (slerp(v0, v1, t), np.array([[ref_slerp(a, b, s) for s in t]
                                     for a, b in zip(as_f64(v0), as_f64(v1), strict=True)])),
        (vslerp(v0, v1, t, alpha=alpha, mean=mean),
         np.array([[[ref_vslerp(a, b, s, k, mean) for k in alpha] for s in t]
                   for a, b in zip(as_f64(v0), as_f64(v1), strict=True)])),
    ):
        assert out.dtype == v0.dtype and type(out) is type(v0)
        assert np.isfinite(as_f64(out)).all()
        # one rounding to the dtype at the end: within an ulp of the largest entry
        assert_close(out, ref, float(np.abs(ref).max()), eps)


def test_numpy_and_torch_give_identical_results():
    rng = np.random.default_rng(5)
    v0, v1 = rng.normal(size=(2, 6, 32)).astype(np.float32)
    mean = rng.normal(size=32)
    args = dict(alpha=[-1.0, 0.5], mean=mean)
    out_np = vslerp(v0, v1, [0.2, 0.8], **args)
    out_t = vslerp(torch.from_numpy(v0), torch.from_numpy(v1), [0.2, 0.8], **args)
    assert isinstance(out_np, np.ndarray) and isinstance(out_t, torch.Tensor)
    np.testing.assert_array_equal(out_np, out_t.numpy())
    np.testing.assert_array_equal(slerp(v0, v1, 0.4), slerp(torch.from_numpy(v0),
                                                            torch.from_numpy(v1), 0.4).numpy())
    np.testing.assert_array_equal(angle(v0, v1), angle(torch.from_numpy(v0),
                                                       torch.from_numpy(v1)).numpy())


@pytest.mark.parametrize("container", ["numpy", "torch"])
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("t", [0.3, [0.0, 0.5, 1.0]])
@pytest.mark.parametrize("alpha", [0.5, [-1.0, 0.0, 1.0, 2.0]])
def test_output_shapes(container, batched, t, alpha):
    rng = np.random.default_rng(1)
    shape = (5, 8) if batched else (8,)
    v0, v1 = rng.normal(size=(2, *shape)).astype(np.float32)
    if container == "torch":
        v0, v1 = torch.from_numpy(v0), torch.from_numpy(v1)
    lead = [5] * batched + ([3] if isinstance(t, list) else [])
    k = [4] if isinstance(alpha, list) else []
    assert tuple(vslerp(v0, v1, t, alpha=alpha, mean=np.ones(8)).shape) == (*lead, *k, 8)
    assert tuple(slerp(v0, v1, t).shape) == (*lead, 8)
    assert tuple(lerp(v0, v1, t).shape) == (*lead, 8)
    assert tuple(np.shape(angle(v0, v1, alpha=alpha, mean=np.ones(8)))) == (*lead[:batched], *k)


@pytest.mark.parametrize("t", [0.25, [0.25], (0.25,), np.array([0.25]), torch.tensor([0.25]),
                               np.float32(0.25), torch.tensor(0.25)])
def test_t_accepts_numbers_and_1d_sequences_of_any_kind(t):
    rng = np.random.default_rng(2)
    v0, v1 = rng.normal(size=(2, 8))
    out = slerp(v0, v1, t)
    expected = ref_slerp(v0, v1, 0.25)
    assert out.shape == ((1, 8) if np.ndim(t) == 1 else (8,))
    assert_close(out.reshape(8), expected, 5.0, 1e-12)


@FAST
@given(batch=st.integers(1, 4), data=st.data())
def test_batched_rows_equal_per_row_calls(batch, data):
    v0, v1 = data.draw(vector_pairs(batch=batch))
    mean = np.random.default_rng(batch).normal(size=v0.shape[-1])
    t, alpha = [0.0, 0.3, 1.2], [-1.0, 0.0, 0.7]
    assume(all(well_separated(v0 - a * mean, v1 - a * mean) for a in alpha))
    out_v, out_s = vslerp(v0, v1, t, alpha=alpha, mean=mean), slerp(v0, v1, t)
    out_a = angle(v0, v1, alpha=alpha, mean=mean)
    for b in range(batch):
        scale = 3 * (np.abs(v0[b]).max() + np.abs(v1[b]).max() + np.abs(mean).max())
        assert_close(out_v[b], vslerp(v0[b], v1[b], t, alpha=alpha, mean=mean), scale, 1e-14)
        assert_close(out_s[b], slerp(v0[b], v1[b], t), scale, 1e-14)
        np.testing.assert_allclose(out_a[b], angle(v0[b], v1[b], alpha=alpha, mean=mean),
                                   rtol=1e-14)


def test_mean_may_be_any_object_with_a_mean_attribute_or_other_container():
    rng = np.random.default_rng(4)
    v0, v1 = rng.normal(size=(2, 3, 16))
    m = rng.normal(size=16)
    expected = vslerp(v0, v1, [0.3, 0.6], alpha=[1.0, -1.0], mean=m)
    for mean in (SimpleNamespace(mean=m), SimpleNamespace(mean=torch.from_numpy(m)),
                 torch.from_numpy(m), list(m), m.astype(np.float64)):
        np.testing.assert_array_equal(vslerp(v0, v1, [0.3, 0.6], alpha=[1.0, -1.0], mean=mean),
                                      expected)


def test_angle_values():
    rng = np.random.default_rng(6)
    v0, v1 = rng.normal(size=(2, 4, 10))
    mean = rng.normal(size=10)
    got = angle(v0, v1, alpha=[0.0, 2.0], mean=mean)
    assert got.dtype == np.float64
    for b in range(4):
        assert got[b, 0] == pytest.approx(ref_angle(v0[b], v1[b]), abs=1e-12)
        assert got[b, 1] == pytest.approx(ref_angle(v0[b] - 2 * mean, v1[b] - 2 * mean), abs=1e-12)
    single = angle(v0[0], v1[0])
    assert isinstance(single, np.float64) and single == got[0, 0]
    assert angle(v0[0], -2 * v0[0]) == pytest.approx(math.pi, abs=1e-15)  # allowed: Ω = π
    t_angle = angle(torch.from_numpy(v0).float(), torch.from_numpy(v1).float())
    assert t_angle.dtype == torch.float64 and t_angle.shape == (4,)


def test_interpolators_mapping():
    assert dict(INTERPOLATORS) == {"lerp": lerp, "slerp": slerp, "vslerp": vslerp}


def test_autograd_flows_through_torch_inputs():
    v0 = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    v1 = torch.randn(2, 5, dtype=torch.float64)
    vslerp(v0, v1, [0.3, 1.0], alpha=[0.0, 1.0], mean=torch.ones(5)).sum().backward()
    assert v0.grad is not None and torch.isfinite(v0.grad).all() and v0.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device_is_kept_and_matches_cpu():
    rng = np.random.default_rng(8)
    v0, v1 = (torch.from_numpy(x).float() for x in rng.normal(size=(2, 16, 64)))
    mean = torch.from_numpy(rng.normal(size=64))
    cpu = vslerp(v0, v1, [0.0, 0.4, 1.0], alpha=[-1.0, 0.0, 2.0], mean=mean)
    gpu = vslerp(v0.cuda(), v1.cuda(), [0.0, 0.4, 1.0], alpha=[-1.0, 0.0, 2.0], mean=mean)
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float32
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-6, atol=1e-6)
    assert torch.equal(gpu[:, 0].cpu(), v0[:, None].expand(-1, 3, -1))


# ---------------------------------------------------------------------------------------------
# Bad input


def _vecs(d=4, b=None, dtype=np.float64):
    rng = np.random.default_rng(9)
    shape = (d,) if b is None else (b, d)
    return rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)


A, B = _vecs()
A2, B2 = _vecs(b=3)
M = np.arange(4.0)


def _with(arr, index, value):
    out = arr.copy()
    out[index] = value
    return out


BAD_CALLS = {
    "shape mismatch": ("v1", lambda: slerp(A, _vecs(d=5)[1], 0.5)),
    "batched vs single": ("v1", lambda: slerp(A2, B, 0.5)),
    "3-D input": ("v0", lambda: slerp(A2[None], B2[None], 0.5)),
    "empty vector": ("v0", lambda: slerp(np.zeros(0), np.zeros(0), 0.5)),
    "empty batch": ("v0", lambda: slerp(np.zeros((0, 4)), np.zeros((0, 4)), 0.5)),
    "list input": ("v0", lambda: slerp([1.0, 2.0], B, 0.5)),
    "integer dtype": ("v0", lambda: slerp(np.arange(4), np.arange(4) + 1, 0.5)),
    "NaN in v0": ("v0", lambda: slerp(_with(A2, (1, 2), np.nan), B2, 0.5)),
    "Inf in v1": ("v1", lambda: lerp(A, _with(B, 0, np.inf), 0.5)),
    "numpy with torch": ("v1", lambda: slerp(A, torch.from_numpy(B), 0.5)),
    "torch with numpy": ("v1", lambda: slerp(torch.from_numpy(A), B, 0.5)),
    "dtype mismatch": ("v1", lambda: slerp(A, B.astype(np.float32), 0.5)),
    "torch dtype mismatch": ("v1", lambda: slerp(torch.from_numpy(A).half(),
                                                 torch.from_numpy(B).bfloat16(), 0.5)),
    "zero v0": ("v0", lambda: slerp(np.zeros(4), B, 0.5)),
    "zero row in v1": ("v1", lambda: vslerp(A2, _with(B2, 2, 0.0), 0.5, alpha=0.0, mean=M)),
    "zero after shift": ("alpha", lambda: vslerp(_with(A2, 1, 2 * M), B2, 0.5, alpha=2.0,
                                                 mean=M)),
    "antiparallel": ("v1", lambda: slerp(A, -3 * A, 0.5)),
    "antiparallel after shift": ("alpha", lambda: vslerp(A, B, 0.5, alpha=[0.0, 1.0],
                                                         mean=(A + B) / 2)),
    "mean wrong dimension": ("mean", lambda: vslerp(A, B, 0.5, alpha=1.0, mean=np.ones(5))),
    "mean attribute wrong dimension": ("mean", lambda: vslerp(A, B, 0.5, alpha=1.0,
                                                              mean=SimpleNamespace(mean=M[:3]))),
    "mean 2-D": ("mean", lambda: vslerp(A, B, 0.5, alpha=1.0, mean=M[None])),
    "mean missing": ("mean", lambda: vslerp(A, B, 0.5, alpha=1.0, mean=None)),
    "mean NaN": ("mean", lambda: vslerp(A, B, 0.5, alpha=1.0, mean=_with(M, 1, np.nan))),
    "t 2-D": ("t", lambda: slerp(A, B, [[0.0, 1.0]])),
    "t empty": ("t", lambda: lerp(A, B, [])),
    "t NaN": ("t", lambda: slerp(A, B, [0.5, float("nan")])),
    "t Inf tensor": ("t", lambda: slerp(A, B, torch.tensor(float("inf")))),
    "t string": ("t", lambda: slerp(A, B, "0.5")),
    "t None": ("t", lambda: slerp(A, B, None)),
    "t bool": ("t", lambda: slerp(A, B, True)),
    "t ragged": ("t", lambda: slerp(A, B, [0.5, [0.1, 0.2]])),
    "alpha 2-D": ("alpha", lambda: vslerp(A, B, 0.5, alpha=np.ones((2, 2)), mean=M)),
    "alpha Inf": ("alpha", lambda: vslerp(A, B, 0.5, alpha=[1.0, float("inf")], mean=M)),
    "alpha None": ("alpha", lambda: vslerp(A, B, 0.5, alpha=None, mean=M)),
    "angle of a zero vector": ("v1", lambda: angle(A, np.zeros(4))),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_names_the_argument(case):
    argument, call = BAD_CALLS[case]
    with pytest.raises(InputError) as info:
        call()
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}=")
    assert isinstance(info.value, ValueError)


def test_error_messages_name_rows_and_values():
    with pytest.raises(InputError, match=r"zero vector at row 1\b") as info:
        vslerp(_with(A2, 1, 2 * M), B2, 0.5, alpha=[0.0, 2.0], mean=M)
    assert info.value.value == 2.0 and "v0" in str(info.value)
    with pytest.raises(InputError, match=r"NaN/Inf at rows 0, 2"):
        slerp(A2, _with(_with(B2, (0, 1), np.nan), (2, 3), np.inf), 0.5)
    with pytest.raises(InputError, match="antiparallel at row 2"):
        slerp(A2, _with(B2, 2, -A2[2]), 0.5)
    # just outside the antiparallel band is accepted
    v0, v1, _ = planar_pair(math.pi - 2 * ANTIPARALLEL_EPS)
    assert np.isfinite(slerp(v0, v1, 0.5)).all()
    v0, v1, _ = planar_pair(math.pi - 0.5 * ANTIPARALLEL_EPS)
    with pytest.raises(InputError, match="antiparallel"):
        slerp(v0, v1, 0.5)
