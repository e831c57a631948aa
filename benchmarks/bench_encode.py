"""Benchmarks of the evaluation pipeline, one section per stage; prints a table per section.

Sections (``--sections``, default all):

* ``encode``: images/s of :meth:`Encoder.encode_images` batched (several batch sizes) vs a
  per-image loop (``encode_images([img])`` for each image), for the tiny CLIP and for a
  real-size open_clip ViT-B/32 with random weights (``pretrained=None``: same architecture,
  preprocessing and cost as ``openclip:ViT-B-32/openai``, no download). Columns: batch size,
  images/s (median of ``--repeats`` interleaved runs), speed-up over the loop, peak extra
  memory measured in one more, untimed run (CUDA: ``max_memory_allocated``; CPU: resident set
  size sampled every 2 ms above the level before the run).

* ``rank``: ``vslerp rank`` end to end on precomputed embeddings: a reference and
  ``--rank-sources`` sources of ``--rank-n`` rows of dimension ``--rank-dim`` each (float32
  ``.npy`` files, CLIP-like: a common offset centre plus per-source spread), timed per stage —
  load (:func:`open_source` + :func:`embed_source` pass-through), conformity
  (:func:`score_sources`: exact in closed form and estimated), statistics
  (:func:`rank_scores`: quantiles, KL, W1, KS, ranks, examples) and report
  (:func:`write_ranking_report`: HTML, PNGs, CSVs with every sample, JSON) — with the peak
  extra resident memory of each stage and of the whole run (embeddings included).

Add a section by writing ``def bench_<name>(args) -> None`` that prints its table with
:func:`print_table` and registering it in :data:`SECTIONS`; shared options live in
:func:`build_parser`.

Run: ``python benchmarks/bench_encode.py`` or, quickly,
``python benchmarks/bench_encode.py --n-images 16 --batch-sizes 8,16 --repeats 1``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from vslerp.encoders import Encoder, OpenClipEncoder, load_encoder
from vslerp.tiny.images import generated_images


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print an aligned plain-text table (Markdown pipe syntax)."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    except OSError:  # not Linux: no sampling, report 0
        return 0


class PeakMemory:
    """Peak extra memory during a ``with`` block: CUDA allocator peak on a CUDA device, else
    the resident set size sampled every 2 ms minus the level at entry."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = _rss_bytes()
        self._top = self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._top = max(self._top, _rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(0, max(self._top, _rss_bytes()) - self._base)


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _time(fn: Callable[[], object], device: torch.device) -> float:
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _measure(fn: Callable[[], object], device: torch.device) -> tuple[float, int]:
    """Wall time and peak extra memory of one run (with the sampler running alongside)."""
    with PeakMemory(device) as mem:
        elapsed = _time(fn, device)
    return elapsed, mem.peak


def _peak(fn: Callable[[], object], device: torch.device) -> int:
    """Peak extra memory of one separate, untimed run (the CPU sampler thread would otherwise
    compete with torch's worker threads and skew the timings)."""
    with PeakMemory(device) as mem:
        fn()
    return mem.peak


def _random_vit_b32(device: str) -> Encoder:
    import open_clip

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=None, force_quick_gelu=True)
    return OpenClipEncoder(model, preprocess, open_clip.get_tokenizer("ViT-B-32"),
                           id="openclip:ViT-B-32/random-weights", device=device)


def bench_encode(args: argparse.Namespace) -> None:
    """The ``encode`` section: batched vs per-image loop (see the module docstring)."""
    images = generated_images(args.n_images, args.image_size, seed=0)
    encoders: list[tuple[str, Callable[[], Encoder]]] = [
        ("tiny CLIP (32 px, D=32)", lambda: load_encoder("tiny", device=args.device)),
        ("ViT-B/32 random weights (224 px, D=512)", lambda: _random_vit_b32(args.device)),
    ]
    rows = []
    for title, make in encoders:
        encoder = make()
        device = torch.device(getattr(encoder, "device", "cpu"))
        encoder.encode_images(images[:2], batch_size=2)  # warm-up (allocator, kernels)
        runs: dict[str, Callable[[], object]] = {
            "loop (1 per call)": lambda e=encoder: [e.encode_images([im]) for im in images]}
        for b in args.batch_sizes:
            runs[f"batch {b}"] = lambda e=encoder, b=b: e.encode_images(images, batch_size=b)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved, so load from elsewhere hits all alike
            for key, fn in runs.items():
                times[key].append(_time(fn, device))
        peaks = {key: _peak(fn, device) for key, fn in runs.items()}
        loop_rate = len(images) / statistics.median(times["loop (1 per call)"])
        for key in runs:
            rate = len(images) / statistics.median(times[key])
            rows.append([title, device.type, key, f"{rate:.1f}", f"{rate / loop_rate:.2f}x",
                         _mib(peaks[key])])
        del encoder
        gc.collect()
    print_table(
        f"encode_images: {args.n_images} images of {args.image_size} px, "
        f"torch threads {torch.get_num_threads()}, median of {args.repeats}",
        ["encoder", "device", "mode", "images/s", "vs loop", "peak extra memory"], rows)


def bench_rank(args: argparse.Namespace) -> None:
    """The ``rank`` section: ``vslerp rank`` on embedding files, per stage (module docstring)."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from vslerp.jobs import embed_source
    from vslerp.ranking import rank_scores, score_sources
    from vslerp.report import write_ranking_report
    from vslerp.sources import open_source

    n, d = args.rank_n, args.rank_dim
    cpu = torch.device("cpu")
    rng = np.random.default_rng(0)
    centre = rng.standard_normal(d).astype(np.float32)
    spreads = [1.0, *np.linspace(0.8, 1.3, args.rank_sources)]
    with tempfile.TemporaryDirectory(prefix="vslerp-bench-rank-") as tmp:
        root = Path(tmp)
        files = []
        for i, spread in enumerate(spreads):
            x = centre + np.float32(spread) * rng.standard_normal((n, d), dtype=np.float32)
            files.append(root / ("reference.npy" if i == 0 else f"source{i}.npy"))
            np.save(files[-1], x)
            del x
        gc.collect()
        stages: dict[str, Callable[[], object]] = {}
        state: dict[str, Any] = {}
        stages["load"] = lambda: state.update(embedded=[
            embed_source(open_source(f), None, work_dir=None, progress=False) for f in files])
        stages["conformity"] = lambda: state.update(
            scores=score_sources(state["embedded"][0], state["embedded"][1:]))
        stages["statistics"] = lambda: state.update(ranking=rank_scores(state["scores"]))
        stages["report"] = lambda: write_ranking_report(state["ranking"], root / "report")
        rows = []
        total = 0.0
        with PeakMemory(cpu) as whole:
            for name, fn in stages.items():
                elapsed, peak = _measure(fn, cpu)
                total += elapsed
                rows.append([name, f"{elapsed:.2f}", _mib(peak)])
        rows.append(["total", f"{total:.2f}", _mib(whole.peak)])
        sizes = {p.name: p.stat().st_size for p in (root / "report").iterdir() if p.is_file()}
    print_table(
        f"vslerp rank on embedding files: reference + {args.rank_sources} sources x {n} rows, "
        f"D={d} float32 ({(1 + args.rank_sources) * n * d * 4 / 2**20:.0f} MiB of embeddings)",
        ["stage", "wall s", "peak extra memory"], rows)
    print("\nreport files: " + ", ".join(f"{k} {v / 2**20:.1f} MiB"
                                         for k, v in sorted(sizes.items())))


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "encode": bench_encode,
    "rank": bench_rank,
}
"""Benchmark sections, run in this order."""


def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers separated by commas")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run ({', '.join(SECTIONS)})")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n-images", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-sizes", type=_int_list, default=[8, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rank-n", type=int, default=100_000,
                        help="rows per source in the rank section")
    parser.add_argument("--rank-dim", type=int, default=512)
    parser.add_argument("--rank-sources", type=int, default=3,
                        help="sources ranked against the reference in the rank section")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    for name in chosen:
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
