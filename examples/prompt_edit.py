"""Edit a photo towards a text prompt with vSLERP.

The prompt is turned into an image embedding by the backend's diffusion prior (Kandinsky 2.2,
Karlo, or the tiny backend's tiny prior); the photo is embedded by the image encoder. Rows move
from the photo (t = 0) towards the prompt, columns shift the interpolation centre along the
image mean (α). All cells share one noise seed, so the edit keeps the instance.

Offline, in seconds (random weights, so the pictures are noise)::

    python examples/prompt_edit.py --model tiny

With a GPU and the real weights::

    python examples/prompt_edit.py --model kandinsky-2.2 --image cat.jpg \\
        --prompt "a watercolor painting of a cat"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vslerp.editors import EDITORS, load_editor
from vslerp.grid import Prompt, render_grid


def main() -> None:
    parser = argparse.ArgumentParser(description="Edit an image towards a prompt (vSLERP).")
    parser.add_argument("--model", default="tiny", choices=sorted(EDITORS),
                        help="a backend with a prior (default: tiny, offline)")
    parser.add_argument("--image", type=Path,
                        help="photo to edit (default: scikit-image's astronaut, or a "
                             "generated image)")
    parser.add_argument("--prompt", default="a watercolor painting, soft pastel colours")
    parser.add_argument("--t", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6],
                        help="how far towards the prompt (rows)")
    parser.add_argument("--alpha", type=float, nargs="+", default=[-1.0, 0.0, 1.0],
                        help="centre shifts along the image mean (columns)")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps (default: 4 for tiny, 25 otherwise)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", "-o", type=Path, default=Path("prompt_edit_out"))
    args = parser.parse_args()

    image = args.image
    if image is None:
        from interpolation_grid import default_endpoints  # the sibling example

        image = default_endpoints(args.output / "inputs")[0]
    editor = load_editor(args.model, device=args.device)
    grid = render_grid(editor, image, Prompt(args.prompt), t=args.t, alpha=args.alpha,
                       seed=args.seed, steps=args.steps or (4 if args.model == "tiny" else 25))
    manifest = grid.save(args.output, title=f"{editor.id}, seed {args.seed}")
    print(f"edited {image} towards prompt {args.prompt!r} with {editor.id}")
    print(f"contact sheet: {args.output / 'sheet.png'}")
    print(f"manifest:      {manifest}")


if __name__ == "__main__":
    main()
