"""Benchmark exact conformity: closed form vs chunked pairwise vs the two-pass streaming floor.

For each set size N (float32, D=512 by default) it prints

* closed form ``vslerp.conformity.conformity(X)``: median time of several runs and the peak of
  extra memory (tracemalloc; X itself is allocated before tracing starts, the (N,) float64 output
  is included);
* the streaming floor: the two passes over X the closed form cannot avoid, a weighted column sum
  and a dot product per row, timed in the same run both as whole-matrix BLAS GEMV calls
  (``X.T @ w``, ``X @ v``) and as numpy einsum kernels; the faster of the two is the floor;
* chunked pairwise ``pairwise_conformity(X)`` when its estimated time (from a sub-sample,
  scaled by N²) is under ``--pairwise-limit`` seconds, otherwise "skipped (est. X s)";
* the ratios closed/floor and pairwise/closed, and max |closed − pairwise| where pairwise ran.

Run: ``python benchmarks/bench_conformity.py`` (full: N = 25k, 100k, 1M), or
``--sizes 5000,20000 --repeats 3`` for a quick look.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from vslerp.conformity import conformity, pairwise_conformity
from vslerp.means import DEFAULT_BLOCK_SIZE


def clip_like(n: int, d: int, seed: int) -> np.ndarray:
    """Float32 rows around an offset centre (like raw CLIP embeddings), generated in chunks."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(d).astype(np.float32)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        stop = min(start + 65536, n)
        X[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
        X[start:stop] *= np.float32(0.8)
        X[start:stop] += centre
    return X


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved_medians(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median time of each function, running them in turn so that load from other processes
    affects all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(timed(fn))
    return [statistics.median(t) for t in times]


def peak_extra_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def floor_blas(X: np.ndarray, w: np.ndarray, v: np.ndarray) -> None:
    """The two passes over X any exact method needs, a weighted column sum and a dot per row,
    as two whole-matrix (multi-threaded) BLAS GEMV calls."""
    X.T @ w
    X @ v


def floor_numpy(X: np.ndarray, w: np.ndarray, v: np.ndarray) -> None:
    """The same two passes with numpy's single-threaded einsum kernels."""
    np.einsum("ij,i->j", X, w)
    np.einsum("ij,j->i", X, v)


def fmt_seconds(t: float) -> str:
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,100000,1000000",
                        help="comma-separated set sizes N (default: %(default)s)")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension D")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs of the fast methods; the median is reported")
    parser.add_argument("--pairwise-limit", type=float, default=120.0,
                        help="run pairwise only when its estimate is below this many seconds")
    parser.add_argument("--pairwise-sample", type=int, default=8192,
                        help="rows of the sub-sample that times pairwise for the estimate")
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE,
                        help="rows per block of the closed form")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print(f"float32, D={args.dim}, block={args.block_size} rows; closed form and floor: median of "
          f"{args.repeats} interleaved runs\n")
    header = (f"{'N':>9} | {'closed s':>9} | {'extra MiB':>9} | {'floor s (blas/np)':>17} | "
              f"{'closed/floor':>12} | {'pairwise s':>24} | {'pair/closed':>11} | "
              f"{'max|closed-pair|':>16}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        X = clip_like(n, args.dim, args.seed)
        w = np.full(n, 1.0, dtype=np.float32)
        v = np.full(args.dim, 1.0 / args.dim, dtype=np.float32)

        def closed(X: np.ndarray = X) -> np.ndarray:
            return conformity(X, block_size=args.block_size)

        closed()  # warm-up (BLAS threads, page faults of the output)
        floor_blas(X, w, v)
        t_blas, t_numpy, t_closed = interleaved_medians(
            [lambda X=X, w=w, v=v: floor_blas(X, w, v),
             lambda X=X, w=w, v=v: floor_numpy(X, w, v), closed], args.repeats)
        t_floor = min(t_blas, t_numpy)
        extra = peak_extra_bytes(closed) / 2**20

        n_sub = min(n, args.pairwise_sample)
        t_sub = timed(lambda X=X, n_sub=n_sub: pairwise_conformity(X[:n_sub]))
        estimate = t_sub * (n / n_sub) ** 2
        if estimate <= args.pairwise_limit:
            t0 = time.perf_counter()
            pair = pairwise_conformity(X)
            t_pair = time.perf_counter() - t0
            err = float(np.abs(closed() - pair).max())
            pair_cell, ratio_cell, err_cell = fmt_seconds(t_pair), f"{t_pair / t_closed:.0f}x", \
                f"{err:.2e}"
        else:
            pair_cell = f"skipped (est. {estimate:.0f} s)"
            ratio_cell = f"~{estimate / t_closed:.0f}x est"
            err_cell = "-"
        floor_cell = f"{fmt_seconds(t_blas)}/{fmt_seconds(t_numpy)}"
        print(f"{n:>9} | {fmt_seconds(t_closed):>9} | {extra:>9.1f} | {floor_cell:>17} | "
              f"{t_closed / t_floor:>12.2f} | {pair_cell:>24} | {ratio_cell:>11} | "
              f"{err_cell:>16}", flush=True)
        del X


if __name__ == "__main__":
    main()
