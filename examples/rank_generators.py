"""Rank image generators against real images by conformity (the paper's Fig. 13, offline).

With no arguments the script builds a small demo, entirely offline, and ranks it with the tiny
random-weight CLIP (``--encoder tiny``):

* ``real``: 40 procedurally generated images (gradients, checkerboards, blobs, noise) and 8
  crops of scikit-image's sample photographs;
* ``varied``: a "generator" with the same variety: other images of the same kinds and other
  crops of the same photographs;
* ``collapsed``: a mode-collapsed "generator": 4 images, each repeated 10 times with a little
  pixel noise (near-duplicates).

The varied generator's conformity distribution overlaps the reference's and ranks first; the
collapsed one concentrates on a few values and ranks last. (The tiny encoder has random
weights, so only distributional structure is meaningful here, not semantics.)

Real data and encoders::

    python examples/rank_generators.py --reference coco=/data/coco_val_images \\
        --source glide=/data/glide_out --source unclip=/data/unclip_out \\
        --encoder openclip:ViT-B-32/openai -o report/

The same as ``vslerp rank ...``, written out with the Python API.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from vslerp.imaging import save_image
from vslerp.report import write_ranking_report
from vslerp.tiny import generated_images
from vslerp.workflow import rank_paths

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field")
SIDE = 64


def photo_crops(n: int, seed: int) -> list[Image.Image]:
    """``n`` random square crops of scikit-image's bundled photographs, ``SIDE`` pixels."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        photo = np.asarray(getattr(data, PHOTOS[i % len(PHOTOS)])())
        if photo.ndim == 2:
            photo = np.stack([photo] * 3, axis=-1)
        side = int(rng.integers(min(photo.shape[:2]) // 3, min(photo.shape[:2])))
        y = int(rng.integers(0, photo.shape[0] - side + 1))
        x = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[y:y + side, x:x + side, :3])
        out.append(crop.resize((SIDE, SIDE), Image.Resampling.LANCZOS))
    return out


def near_duplicates(bases: list[Image.Image], copies: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for base in bases:
        pixels = np.asarray(base, dtype=np.int16)
        for _ in range(copies):
            noisy = pixels + rng.integers(-4, 5, pixels.shape)
            out.append(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))
    return out


def write_folder(folder: Path, images: list[Image.Image]) -> Path:
    for i, image in enumerate(images):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def build_demo(root: Path) -> tuple[str, list[str]]:
    """Write the demo folders under ``root``; returns the ``NAME=PATH`` arguments."""
    real = write_folder(root / "real", generated_images(40, SIDE, seed=10) + photo_crops(8, 1))
    varied = write_folder(root / "varied",
                          generated_images(32, SIDE, seed=11) + photo_crops(8, 2))
    collapsed = write_folder(root / "collapsed",
                             near_duplicates(generated_images(4, SIDE, seed=12), 10, seed=3))
    return f"real={real}", [f"varied={varied}", f"collapsed={collapsed}"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="NAME=FOLDER of real images (default: the demo)")
    parser.add_argument("--source", action="append", default=[],
                        help="NAME=FOLDER of generated images; repeat for each generator")
    parser.add_argument("--encoder", default="tiny",
                        help="encoder spec, e.g. openclip:ViT-B-32/openai (default: tiny)")
    parser.add_argument("-o", "--output", type=Path, default=Path("rank_generators_report"),
                        help="report folder (default: ./rank_generators_report)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    if args.reference is None:
        if args.source:
            parser.error("--source needs --reference")
        reference, sources = build_demo(args.output / "demo_images")
    else:
        if not args.source:
            parser.error("give at least one --source")
        reference, sources = args.reference, args.source

    ranking = rank_paths(reference, sources, encoder=args.encoder, modality="image",
                         batch_size=args.batch_size, work_dir=args.output / ".work")
    paths = write_ranking_report(ranking, args.output)
    for row in ranking.ranked():
        rank = "ref" if row.is_reference else f"#{row.rank}"
        print(f"{rank:>4}  {row.name:<12} n={row.n:<4} mean C={row.mean:.4f}  "
              f"std={row.std:.4f}  W1={row.w1:.4f}  KS={row.ks:.3f}")
    print(f"report: {paths['html']}")


if __name__ == "__main__":
    main()
