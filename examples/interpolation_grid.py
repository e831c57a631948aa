"""A t × α vSLERP grid between two photos.

Runs as-is, offline, in seconds with the tiny random-weight backend (its pictures are noise:
the point is the whole pipeline)::

    python examples/interpolation_grid.py --model tiny

With a GPU and the real Kandinsky 2.2 weights (downloaded once into the Hugging Face cache)::

    python examples/interpolation_grid.py --model kandinsky-2.2 --steps 25

The endpoints are two public-domain photographs shipped with scikit-image (``astronaut``: NASA;
``coffee``: Rachel Michetti, CC0), or two generated test images when scikit-image is not
installed; pass your own with ``--a`` / ``--b``. Rows sweep t from A to B, columns sweep α
(0 = plain SLERP; moving α shifts the interpolation centre along the image mean, making the
decoded images more typical or more detailed). Every cell is decoded from the same noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from vslerp.editors import EDITORS, load_editor
from vslerp.grid import render_grid
from vslerp.imaging import save_image


def default_endpoints(folder: Path) -> tuple[Path, Path]:
    """Write the two default endpoint images into ``folder`` and return their paths."""
    try:
        from skimage import data

        images = [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee())]
        names = ["astronaut.png", "coffee.png"]
    except ImportError:
        from vslerp.tiny import generated_images

        images = generated_images(2, 256, 0)
        names = ["generated_0.png", "generated_1.png"]
    a, b = (save_image(img, folder / name) for img, name in zip(images, names, strict=True))
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description="Render a t x alpha vSLERP grid.")
    parser.add_argument("--model", default="tiny", choices=sorted(EDITORS),
                        help="backend (default: tiny, offline)")
    parser.add_argument("--a", type=Path, help="first image (default: astronaut)")
    parser.add_argument("--b", type=Path, help="second image (default: coffee)")
    parser.add_argument("--rows", type=int, default=5, help="t values from 0 to 1")
    parser.add_argument("--cols", type=int, default=5, help="alpha values from -A to A")
    parser.add_argument("--alpha-max", type=float, default=2.0, help="A")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps (default: 4 for tiny, 25 otherwise)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", "-o", type=Path, default=Path("interpolation_grid_out"))
    args = parser.parse_args()

    args.output.mkdir(parents=True, exist_ok=True)
    if args.a is None or args.b is None:
        a, b = default_endpoints(args.output / "inputs")
        a, b = args.a or a, args.b or b
    else:
        a, b = args.a, args.b
    steps = args.steps or (4 if args.model == "tiny" else 25)

    editor = load_editor(args.model, device=args.device)
    grid = render_grid(editor, a, b, t=np.linspace(0, 1, args.rows).tolist(),
                       alpha=np.linspace(-args.alpha_max, args.alpha_max, args.cols).tolist(),
                       seed=args.seed, steps=steps, batch_size=args.batch_size)
    manifest = grid.save(args.output, title=f"{editor.id}, seed {args.seed}")
    print(f"endpoints: {a}, {b}")
    print(f"decoded {grid.metadata['unique_cells']} distinct cells of {args.rows}x{args.cols}")
    print(f"contact sheet: {args.output / 'sheet.png'}")
    print(f"cells:         {args.output / 'cells'}")
    print(f"GIFs:          {args.output / 'gifs'}")
    print(f"manifest:      {manifest}")


if __name__ == "__main__":
    main()
