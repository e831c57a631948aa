"""Interpolation between raw CLIP embeddings: LERP, SLERP and vSLERP.

Math
----
For raw (unnormalized) vectors ``v0, v1`` in R^D and a real ``t``::

    LERP(v0, v1, t)         = (1 − t)·v0 + t·v1
    SLERP(v0, v1, t)        = sin((1 − t)·Ω)/sin Ω · v0 + sin(t·Ω)/sin Ω · v1
    vSLERP(v0, v1, t, α; m) = SLERP(v0 − α·m, v1 − α·m, t) + α·m

``m`` is the modality mean (the centre of the embedding shell) and ``Ω`` in [0, π] is the angle
between the two vectors, taken from the *summed* dot product of their unit vectors ``û0, û1``::

    c = clamp(Σ_i û0_i·û1_i, −1, 1),     Ω = atan2(‖û1 − c·û0‖, c)

``atan2`` equals ``arccos(c)`` in exact arithmetic but keeps full float64 accuracy near 0 and π,
where ``arccos`` of a rounded cosine loses half the digits (an error δ in ``c`` moves
``arccos(c)`` by about √(2δ) there). The SLERP weights multiply the raw vectors themselves, so
the norm is interpolated along with the direction (equal norms stay on their sphere). Computing
``arccos`` element-wise instead of on the summed dot product, as some public unCLIP
interpolation code does, is wrong: mid-path norms come out inflated (up to ~35% for CLIP image
embeddings, whose mean is far from the origin).

Conventions
-----------
* ``v0``, ``v1``: the same shape, ``(D,)`` or ``(B, D)``; both numpy arrays or both torch
  tensors (same device); the same floating dtype: float16, float32 or float64 (numpy), and also
  bfloat16 (torch). The result has that container, dtype and device.
* ``t`` and ``alpha``: a real number or a non-empty 1-D sequence (list, tuple, numpy, torch).
  A sequence adds an axis, a number does not: the result has shape ``(B?, T?, K?, D)`` with
  ``B`` present for ``(B, D)`` inputs, ``T = len(t)``, ``K = len(alpha)``. Row ``b``, cell
  ``[i, k]`` interpolates ``v0[b]`` and ``v1[b]`` at ``t[i]`` with ``alpha[k]``.
* ``t`` outside [0, 1] extrapolates: SLERP keeps going along the same great circle, LERP along
  the same line. Nothing is clamped; large ``|t|`` can overflow float16/bfloat16 outputs.
* All arithmetic is float64 on the input's device (on the CPU for MPS, which lacks float64);
  the result is rounded back to the input dtype once, at the end.
* Cells with ``t == 0`` are ``v0`` and cells with ``t == 1`` are ``v1``, bit for bit, for every
  ``alpha`` (``(v − α·m) + α·m`` is not exact in floating point, so those cells are copied).
* ``alpha == 0`` skips the shift, so ``vslerp(..., alpha=0, mean=m)`` is bitwise ``slerp``.

Numerical limits (float64 unit roundoff u = 2^-53 ≈ 1.1e-16)
--------------------------------------------------------------
* Small angles, ``Ω <`` :data:`SMALL_ANGLE` ``= 2^-26 ≈ 1.5e-8`` rad: LERP is used. For t in
  [0, 1] each SLERP weight differs from its LERP weight by at most 0.065·Ω², i.e. less than
  0.13·u here, so the switch is invisible in float64 (and it avoids 0/0 at Ω = 0).
* Antiparallel pairs, ``π − Ω <`` :data:`ANTIPARALLEL_EPS` ``= 1e-6`` rad, raise
  :class:`~vslerp.errors.InputError`: at Ω = π every great circle through the pair is a
  geodesic, so there is no unique path. Near π the weights grow like 1/(π − Ω) and cancel, so
  float64 rounding leaves a relative error of about u/(π − Ω); at the limit that is ~1e-10,
  far below float32 resolution, and closer pairs are refused rather than given an arbitrary
  circle.
* Zero vectors have no direction and raise ``InputError``, also when the shift makes one:
  a row of ``v − α·m`` whose largest entry is at most :data:`ZERO_RTOL` ``= 1e-8`` times
  ``max|v| + |α|·max|m|`` is zero up to rounding (the rounding noise in the shifted row,
  ~u times that scale, would then be over 1e-8 of the row's size and sway its direction).
  LERP has no such restriction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias, TypeVar

import numpy as np
import torch

from vslerp.errors import InputError

__all__ = [
    "ANTIPARALLEL_EPS",
    "INTERPOLATORS",
    "SMALL_ANGLE",
    "ZERO_RTOL",
    "angle",
    "lerp",
    "slerp",
    "vslerp",
]

SMALL_ANGLE: float = 2.0**-26
"""Angles (radians) below this interpolate linearly; see the module docstring."""

ANTIPARALLEL_EPS: float = 1e-6
"""Pairs whose angle is within this many radians of π are refused as antiparallel."""

ZERO_RTOL: float = 1e-8
"""A (shifted) row this small relative to the values it came from counts as a zero vector."""

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
Values: TypeAlias = float | Sequence[float] | np.ndarray | torch.Tensor

_NP_NAMES = "float16, float32, float64"
_TORCH_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class _Pair:
    """Validated inputs: float64 copies on the compute device plus what is needed to cast back."""

    v0: Any  # the caller's objects, for error messages
    v1: Any
    x0: torch.Tensor  # (B, D) float64
    x1: torch.Tensor
    batched: bool
    dtype: Any  # np.dtype or torch.dtype of the inputs
    device: torch.device | None  # the inputs' device (torch) or None (numpy)

    def amax(self, which: int) -> torch.Tensor:
        return (self.x0 if which == 0 else self.x1).abs().amax(dim=-1)

    def to_caller(self, y: torch.Tensor) -> Any:
        """Round a float64 result to the input dtype and container (numpy or torch, device)."""
        if self.device is None:
            return y.cpu().numpy().astype(self.dtype, copy=False)
        return y.to(self.dtype).to(self.device)


def _kind(value: Any) -> str:
    return "torch tensor" if isinstance(value, torch.Tensor) else "numpy array"


def _prepare(v0: Any, v1: Any) -> _Pair:
    """Check ``v0``/``v1`` (container, dtype, device, shape, finiteness); float64 (B, D) copies."""
    for name, value in (("v0", v0), ("v1", v1)):
        if not isinstance(value, (np.ndarray, torch.Tensor)):
            raise InputError(name, value, "expected a numpy array or a torch tensor")
    if isinstance(v0, torch.Tensor) != isinstance(v1, torch.Tensor):
        raise InputError("v1", v1, f"is a {_kind(v1)} but v0 is a {_kind(v0)}; pass both "
                                   "as the same type")
    if v0.dtype != v1.dtype:
        raise InputError("v1", v1, f"dtype {v1.dtype} differs from v0's dtype {v0.dtype}")
    if isinstance(v0, torch.Tensor):
        supported, names = v0.dtype in _TORCH_DTYPES, "bfloat16, " + _NP_NAMES
    else:  # any byte order
        supported, names = v0.dtype.kind == "f" and v0.dtype.itemsize in (2, 4, 8), _NP_NAMES
    if not supported:
        raise InputError("v0", v0, f"dtype {v0.dtype} is not supported; use {names}")
    if isinstance(v0, torch.Tensor) and v0.device != v1.device:
        raise InputError("v1", v1, f"is on {v1.device} but v0 is on {v0.device}")
    if v0.ndim not in (1, 2) or 0 in tuple(v0.shape):
        raise InputError("v0", v0, "expected a non-empty (D,) vector or (B, D) matrix")
    if tuple(v1.shape) != tuple(v0.shape):
        raise InputError("v1", v1, f"shape {tuple(v1.shape)} does not match v0's shape "
                                   f"{tuple(v0.shape)}")
    if isinstance(v0, torch.Tensor):
        device = v0.device
        compute = torch.device("cpu") if device.type == "mps" else device
        x0, x1 = (v.to(compute, torch.float64).reshape(-1, v.shape[-1]) for v in (v0, v1))
    else:
        device = None
        x0, x1 = (torch.from_numpy(np.array(v, dtype=np.float64, ndmin=2)) for v in (v0, v1))
    for name, value, x in (("v0", v0, x0), ("v1", v1, x1)):
        bad = ~torch.isfinite(x).all(dim=-1)
        if bad.any():
            raise InputError(name, value, f"contains NaN/Inf{_rows(bad, v0.ndim == 2)}")
    return _Pair(v0, v1, x0, x1, v0.ndim == 2, v0.dtype, device)


def _rows(bad: torch.Tensor, batched: bool) -> str:
    """`` at row(s) i, j`` for a batched input, nothing for a single vector."""
    if not batched:
        return ""
    idx = torch.nonzero(bad).flatten().tolist()
    shown = ", ".join(str(i) for i in idx[:5]) + (", ..." if len(idx) > 5 else "")
    return f" at row{'s' if len(idx) > 1 else ''} {shown}"


def _real_values(name: str, value: Any) -> torch.Tensor:
    """``value`` (number, sequence, array or tensor of real numbers) as a CPU float64 tensor."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise InputError(name, value, f"expected real numbers, got dtype {value.dtype}")
        out = value.detach().to("cpu", torch.float64)
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as err:  # ragged nesting and the like
            raise InputError(name, value, f"expected real numbers: {err}") from err
        if arr.dtype.kind not in "fiu":
            raise InputError(name, value, "expected a real number or a sequence of them")
        out = torch.from_numpy(arr.astype(np.float64))
    if not torch.isfinite(out).all():
        raise InputError(name, value, "must be finite (no NaN/Inf)")
    return out


def _grid_axis(name: str, value: Any) -> tuple[torch.Tensor, bool]:
    """``t`` or ``alpha`` as a 1-D CPU float64 tensor, and whether it adds an output axis."""
    vals = _real_values(name, value)
    if vals.ndim > 1:
        raise InputError(name, value, f"expected a number or a 1-D sequence, got shape "
                                      f"{tuple(vals.shape)}")
    if vals.ndim == 1 and vals.numel() == 0:
        raise InputError(name, value, "is an empty sequence")
    return vals.reshape(-1), vals.ndim == 1


def _mean_vector(mean: Any, pair: _Pair) -> torch.Tensor:
    """The ``(D,)`` mean as float64 on the compute device, from an array/tensor or ``.mean``."""
    if mean is None:
        raise InputError("mean", mean, "vSLERP needs the modality mean: a (D,) array/tensor "
                                       "or an object with a .mean attribute")
    vec = mean
    if not isinstance(mean, (np.ndarray, torch.Tensor, list, tuple)) and hasattr(mean, "mean"):
        vec = mean.mean
    vals = _real_values("mean", vec)
    dim = pair.x0.shape[-1]
    if tuple(vals.shape) != (dim,):
        raise InputError("mean", vec, f"expected shape ({dim},) to match v0's dimension "
                                      f"D={dim}, got {tuple(vals.shape)}")
    return vals.to(pair.x0.device)


def _alphas(pair: _Pair, alpha: Any, mean: Any) -> tuple[list[float], bool, torch.Tensor | None]:
    """Validated α values, whether they add an axis, and the mean (``None``: no shift at all)."""
    alphas, k_axis = _grid_axis("alpha", alpha)
    return alphas.tolist(), k_axis, _mean_vector(mean, pair)


def _shifted(
    pair: _Pair, a: float, m: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(x0 − a·m, x1 − a·m, a·m)``; the inputs untouched (shift ``None``) when ``a == 0``."""
    if m is None or a == 0.0:
        return pair.x0, pair.x1, None
    shift = a * m
    return pair.x0 - shift, pair.x1 - shift, shift


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` scaled to unit length (pre-scaled by max|x| so huge values do not
    overflow)."""
    scaled = x / x.abs().amax(dim=-1, keepdim=True)
    return scaled / torch.linalg.vector_norm(scaled, dim=-1, keepdim=True)


def _row_angles(
    pair: _Pair, a: torch.Tensor, b: torch.Tensor, alpha: float, m: torch.Tensor | None
) -> torch.Tensor:
    """Ω (B,) float64 between the rows of ``a`` and ``b``; refuses zero (or overflowing) rows.

    ``a``/``b`` are the rows of ``v0``/``v1`` shifted by ``alpha·m`` (``m`` ``None``: unshifted).
    """
    shifted = m is not None and alpha != 0.0
    m_max = m.abs().max() if shifted else 0.0
    for which, x in ((0, a), (1, b)):
        size = x.abs().amax(dim=-1)
        scale = pair.amax(which) + abs(alpha) * m_max if shifted else size
        for bad, problem in ((~torch.isfinite(size), "overflows float64"),
                             (size <= ZERO_RTOL * scale, "is a zero vector")):
            if bad.any():
                where = _rows(bad, pair.batched)
                if shifted:
                    raise InputError("alpha", alpha, f"v{which} − alpha·mean {problem}{where}: "
                                                     "no direction to interpolate")
                name, value = ("v0", pair.v0) if which == 0 else ("v1", pair.v1)
                raise InputError(name, value, f"{problem}{where}: SLERP needs a direction")
    u0, u1 = _unit(a), _unit(b)
    c = (u0 * u1).sum(dim=-1).clamp(-1.0, 1.0)
    s = torch.linalg.vector_norm(u1 - c[:, None] * u0, dim=-1)
    return torch.atan2(s, c)


def _combine(
    a: torch.Tensor, b: torch.Tensor, w0: torch.Tensor, w1: torch.Tensor
) -> torch.Tensor:
    """``w0·a + w1·b`` for rows ``a, b`` (B, D) and weights (B or 1, T): (B, T, D) float64."""
    y = a[:, None, :] * w0[:, :, None]
    return y.addcmul_(b[:, None, :], w1[:, :, None])


def _slerp_cells(
    pair: _Pair, t: torch.Tensor, alphas: list[float], m: torch.Tensor | None
) -> list[torch.Tensor]:
    """One (B, T, D) float64 SLERP (vSLERP when ``m`` is given) block per α."""
    tt = t.to(pair.x0.device)[None, :]
    cells = []
    for alpha in alphas:
        a, b, shift = _shifted(pair, alpha, m)
        omega = _row_angles(pair, a, b, alpha, m)
        near_pi = omega > math.pi - ANTIPARALLEL_EPS
        if near_pi.any():
            gap = float((math.pi - omega[near_pi]).min())
            name, value = ("alpha", alpha) if shift is not None else ("v1", pair.v1)
            what = "v0 − alpha·mean and v1 − alpha·mean" if shift is not None else "v0 and v1"
            raise InputError(name, value, f"{what} are antiparallel{_rows(near_pi, pair.batched)} "
                                          f"(angle π − {gap:.2e} rad, within {ANTIPARALLEL_EPS} "
                                          "of π): no unique great circle joins them")
        small = (omega < SMALL_ANGLE)[:, None]
        om = omega[:, None]
        sin_om = torch.where(small, 1.0, torch.sin(om))
        w0 = torch.where(small, 1.0 - tt, torch.sin((1.0 - tt) * om) / sin_om)
        w1 = torch.where(small, tt, torch.sin(tt * om) / sin_om)
        y = _combine(a, b, w0, w1)
        cells.append(y if shift is None else y.add_(shift))
    return cells


def _finish(
    pair: _Pair, cells: list[torch.Tensor], t: torch.Tensor, t_axis: bool, k_axis: bool
) -> Any:
    """Stack (B, T, D) blocks to (B, T, K, D), copy the exact endpoints, drop unused axes and
    cast back to the caller's dtype/container."""
    y = cells[0].unsqueeze(2) if len(cells) == 1 else torch.stack(cells, dim=2)
    t = t.to(y.device)
    y[:, t == 0] = pair.x0[:, None, None, :]
    y[:, t == 1] = pair.x1[:, None, None, :]
    b, n_t, n_k, d = y.shape
    shape = [b] * pair.batched + [n_t] * t_axis + [n_k] * k_axis + [d]
    return pair.to_caller(y.reshape(shape))


def lerp(v0: ArrayT, v1: ArrayT, t: Values) -> ArrayT:
    """Linear interpolation ``(1 − t)·v0 + t·v1``.

    Args:
        v0, v1: raw embeddings, ``(D,)`` or ``(B, D)``, same shape, container and dtype
            (float16/32/64, and bfloat16 for torch).
        t: a real number or a 1-D sequence of ``T`` numbers; values outside [0, 1]
            extrapolate along the line.

    Returns:
        ``(B?, T?, D)`` in the dtype, container and device of ``v0``; cells with ``t == 0`` /
        ``t == 1`` are exactly ``v0`` / ``v1``.

    Raises:
        InputError: see the module docstring (zero and antiparallel vectors are fine here).
    """
    pair = _prepare(v0, v1)
    t_vals, t_axis = _grid_axis("t", t)
    tt = t_vals.to(pair.x0.device)[None, :]
    return _finish(pair, [_combine(pair.x0, pair.x1, 1.0 - tt, tt)], t_vals, t_axis, False)


def slerp(v0: ArrayT, v1: ArrayT, t: Values) -> ArrayT:
    """Spherical interpolation of raw vectors about the origin (see the module docstring).

    Args:
        v0, v1: raw embeddings, ``(D,)`` or ``(B, D)``, same shape, container and dtype
            (float16/32/64, and bfloat16 for torch); no zero rows, no antiparallel pairs.
        t: a real number or a 1-D sequence of ``T`` numbers; values outside [0, 1]
            extrapolate along the great circle.

    Returns:
        ``(B?, T?, D)`` in the dtype, container and device of ``v0``; cells with ``t == 0`` /
        ``t == 1`` are exactly ``v0`` / ``v1``.

    Raises:
        InputError: bad container, dtype, shape, NaN/Inf, zero vector, antiparallel pair
            (angle within :data:`ANTIPARALLEL_EPS` of π), bad ``t``.
    """
    pair = _prepare(v0, v1)
    t_vals, t_axis = _grid_axis("t", t)
    return _finish(pair, _slerp_cells(pair, t_vals, [0.0], None), t_vals, t_axis, False)


def vslerp(v0: ArrayT, v1: ArrayT, t: Values, *, alpha: Values, mean: Any) -> ArrayT:
    """vSLERP: ``SLERP(v0 − α·m, v1 − α·m, t) + α·m``, SLERP about ``α·m`` instead of 0.

    Args:
        v0, v1: raw embeddings, ``(D,)`` or ``(B, D)``, same shape, container and dtype
            (float16/32/64, and bfloat16 for torch).
        t: a real number or a 1-D sequence of ``T`` numbers (outside [0, 1]: extrapolation).
        alpha: a real number or a 1-D sequence of ``K`` numbers; 0 is plain SLERP (bitwise).
        mean: the modality mean ``m``: a ``(D,)`` numpy array or torch tensor (any real dtype,
            either container, any device) or an object with such a ``.mean`` attribute.

    Returns:
        ``(B?, T?, K?, D)`` in the dtype, container and device of ``v0``; cells with
        ``t == 0`` / ``t == 1`` are exactly ``v0`` / ``v1`` for every α.

    Raises:
        InputError: as :func:`slerp`, plus a bad ``alpha`` or ``mean``, and ``alpha`` named when
            ``v − α·m`` is zero or the shifted pair is antiparallel.
    """
    pair = _prepare(v0, v1)
    t_vals, t_axis = _grid_axis("t", t)
    alphas, k_axis, m = _alphas(pair, alpha, mean)
    return _finish(pair, _slerp_cells(pair, t_vals, alphas, m), t_vals, t_axis, k_axis)


def angle(v0: ArrayT, v1: ArrayT, *, alpha: Values | None = None, mean: Any = None) -> Any:
    """The angle Ω (radians, in [0, π]) that :func:`slerp` / :func:`vslerp` sweeps.

    Args:
        v0, v1: as for :func:`slerp` (antiparallel pairs are allowed here: Ω = π).
        alpha, mean: when ``alpha`` is given, the angle between ``v0 − α·m`` and
            ``v1 − α·m``; ``alpha`` and ``mean`` follow :func:`vslerp`.

    Returns:
        float64 of shape ``(B?, K?)``: a numpy scalar/array for numpy inputs, a torch tensor on
        the inputs' device (the CPU for MPS) for torch inputs.
    """
    pair = _prepare(v0, v1)
    alphas, k_axis, m = ([0.0], False, None) if alpha is None else _alphas(pair, alpha, mean)
    omega = torch.stack([_row_angles(pair, *_shifted(pair, a, m)[:2], a, m) for a in alphas], 1)
    shape = [omega.shape[0]] * pair.batched + [omega.shape[1]] * k_axis
    omega = omega.reshape(shape)
    return omega.cpu().numpy()[()] if pair.device is None else omega


INTERPOLATORS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {"lerp": lerp, "slerp": slerp, "vslerp": vslerp}
)
"""Name -> function; all take ``(v0, v1, t)``, ``vslerp`` also ``alpha=`` and ``mean=``."""
