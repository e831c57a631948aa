"""Benchmark: a t × α vSLERP grid, per-cell diffusers calls vs ``vslerp.grid.render_grid``.

The baseline is what a user writes by hand: one ``KandinskyV22Pipeline.__call__`` per cell with
the cell's vSLERP embedding, the zero-image negative embedding, the shared initial latents and
``generator=torch.Generator().manual_seed(seed)``. ``render_grid`` computes the same cells,
decodes each distinct embedding once (the t = 0 and t = 1 rows are one embedding each) in
batches of ``--batch-size``, from the same noise. A third row times ``Editor.decode`` on all
cells batched without de-duplication, to separate the two effects.

Outputs must be identical: the script reports the largest latent difference between the
per-cell calls and the batched decode (relative to the latents' scale; batched kernels round
differently in the last bits, nothing else differs) and the largest pixel difference between
the two grids (random-weight image decoders amplify that rounding at some pixels). Each path is
timed ``--repeat`` times after a warm-up and the fastest run is reported, which keeps the
numbers meaningful on a shared machine.

Usage::

    python benchmarks/bench_grid.py                          # tiny backend, CPU
    python benchmarks/bench_grid.py --real-size --device cuda   # real-size decoder, 512 px
    python benchmarks/bench_grid.py --real-size --steps 1 --size 64   # same code path on CPU

``--real-size`` builds the Kandinsky 2.2 decoder architecture (UNet + MoVQ, ~1.3 B parameters)
with random weights from the configs below; no weights are downloaded. Its image encoder is a
tiny CLIP vision tower projecting to D = 1280 (embedding is not what is timed).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

# kandinsky-community/kandinsky-2-2-decoder, unet/config.json. Source: diffusers'
# scripts/convert_kandinsky_to_diffusers.py (UNET_CONFIG, the Kandinsky 2.1/2.2 decoder UNet)
# with the 2.2 decoder's image-only conditioning as published in its config.json:
# addition_embed_type "image", encoder_hid_dim_type "image_proj", encoder_hid_dim 1280.
KANDINSKY22_UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "addition_embed_type": "image",
    "addition_embed_type_num_heads": 64,
    "attention_head_dim": 64,
    "block_out_channels": [384, 768, 1152, 1536],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 768,
    "cross_attention_norm": None,
    "down_block_types": ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D",
                         "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": 1280,
    "encoder_hid_dim_type": "image_proj",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 3,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 8,
    "projection_class_embeddings_input_dim": None,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "scale_shift",
    "sample_size": 64,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "up_block_types": ["SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D",
                       "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
    "upcast_attention": False,
    "use_linear_projection": False,
}

# kandinsky-community/kandinsky-2-2-decoder, movq/config.json (the MoVQ shared by Kandinsky 2.1
# and 2.2). Source: diffusers' scripts/convert_kandinsky_to_diffusers.py (MOVQ_CONFIG).
KANDINSKY22_MOVQ_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                         "AttnDownEncoderBlock2D"],
    "up_block_types": ["AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                       "UpDecoderBlock2D"],
    "num_vq_embeddings": 16384,
    "block_out_channels": [128, 256, 256, 512],
    "vq_embed_dim": 4,
    "layers_per_block": 2,
    "norm_type": "spatial",
}


def real_size_editor(device: torch.device, dtype: torch.dtype):
    """A ``KandinskyEditor`` over the real-size decoder architecture with random weights."""
    from diffusers import DDPMScheduler, KandinskyV22Pipeline, UNet2DConditionModel, VQModel
    from transformers import CLIPVisionModelWithProjection

    from vslerp.editors.kandinsky import KandinskyEditor
    from vslerp.means import ModalityMean
    from vslerp.tiny import generated_images
    from vslerp.tiny.clip import tiny_image_processor, tiny_vision_config
    from vslerp.tiny.kandinsky import KANDINSKY22_DECODER_SCHEDULER_CONFIG

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**KANDINSKY22_UNET_CONFIG)
        movq = VQModel(**KANDINSKY22_MOVQ_CONFIG)
        vision_config = tiny_vision_config()
        vision_config.projection_dim = KANDINSKY22_UNET_CONFIG["encoder_hid_dim"]
        encoder = CLIPVisionModelWithProjection(vision_config).eval()
    decoder = KandinskyV22Pipeline(unet=unet.eval(), movq=movq.eval(),
                                   scheduler=DDPMScheduler(**KANDINSKY22_DECODER_SCHEDULER_CONFIG))
    decoder = decoder.to(device=device, dtype=dtype)
    encoder = encoder.to(device=device, dtype=dtype)
    processor = tiny_image_processor()
    pixels = processor(images=generated_images(16, 64, 1), return_tensors="pt").pixel_values
    with torch.no_grad():
        refs = encoder(pixel_values=pixels.to(device, dtype)).image_embeds.float().cpu()
    mean = ModalityMean.from_embeddings(refs, encoder="random-vit", modality="image",
                                        source="16 generated images")
    return KandinskyEditor(
        id="kandinsky-2.2 (real-size architecture, random weights)", revision=None,
        device=device, dtype=dtype, decoder=decoder, image_encoder=encoder,
        image_processor=processor, encoder_id="random-vit", clip_stats=lambda: (None, None),
        stats_source="none", mean=mean)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def per_cell(editor, embeds: np.ndarray, *, seed: int, steps: int, guidance: float,
             size: tuple[int, int], output: str) -> list[Any]:
    """The baseline: one pipeline call per cell, written as a user would."""
    negative = editor.negative_embedding()
    shape = (1, editor.decoder.unet.config.in_channels, size[0] // editor.decoder.movq_scale_factor,
             size[1] // editor.decoder.movq_scale_factor)
    results = []
    for row in embeds:
        latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        out = editor.decoder(
            image_embeds=torch.from_numpy(row[None]).to(editor.device, editor.dtype),
            negative_image_embeds=negative, height=size[0], width=size[1],
            num_inference_steps=steps, guidance_scale=guidance,
            latents=latents.to(editor.device, editor.dtype),
            generator=torch.Generator().manual_seed(seed), output_type=output)
        results.append(out.images[0] if output == "pil" else out.images.float().cpu())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-size", action="store_true",
                        help="real-size Kandinsky 2.2 decoder architecture (random weights)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="default: float16 on CUDA, else float32")
    parser.add_argument("--size", type=int, default=None,
                        help="output side in pixels (default: 64 tiny, 512 real-size)")
    parser.add_argument("--grid", type=int, default=5, help="T = K = this (default 5)")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps (default: 5 tiny, 25 real-size)")
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="cells per decoder call (default: 8 tiny, 8 real-size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); 1 avoids thread "
                             "oversubscription on a busy shared machine")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed runs per path, the fastest is reported (default: 3 tiny, "
                             "1 real-size)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from vslerp.editors import load_editor, resolve_device, resolve_dtype
    from vslerp.grid import render_grid
    from vslerp.interpolation import vslerp
    from vslerp.tiny import generated_images

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.real_size:
        editor = real_size_editor(device, dtype)
    else:
        editor = load_editor("tiny", device=device, dtype=dtype)
    side = args.size or (512 if args.real_size else 64)
    steps = args.steps or (25 if args.real_size else 5)
    batch = args.batch_size or 8
    repeat = args.repeat or (1 if args.real_size else 3)
    size = editor.output_size(side, side)
    t = np.linspace(0.0, 1.0, args.grid).tolist()
    alpha = np.linspace(-2.0, 2.0, args.grid).tolist()
    a, b = generated_images(2, 64, 0)
    common = {"seed": args.seed, "steps": steps, "guidance": args.guidance}

    # the cells (computing them is not timed: the same for both paths)
    v = editor.embed_images([a, b])
    flat = vslerp(v[0], v[1], t, alpha=alpha, mean=editor.image_mean().mean).reshape(
        -1, editor.embed_dim)
    n = flat.shape[0]

    # warm-up: first calls pay for kernel selection and allocation, in both paths
    warm = {"seed": args.seed, "steps": 1, "guidance": args.guidance}
    per_cell(editor, flat[:1], size=size, output="pil", **warm)
    editor.decode(flat[:batch], batch_size=batch, height=size[0], width=size[1], **warm)

    def timed(fn):
        best, result = float("inf"), None
        for _ in range(repeat):
            sync(device)
            start = time.perf_counter()
            result = fn()
            sync(device)
            best = min(best, time.perf_counter() - start)
        return best, result

    naive_s, naive_images = timed(lambda: per_cell(editor, flat, size=size, output="pil",
                                                   **common))
    grid_s, grid = timed(lambda: render_grid(editor, a, b, t=t, alpha=alpha, batch_size=batch,
                                             height=size[0], width=size[1], **common))
    all_s, _ = timed(lambda: editor.decode(flat, batch_size=batch, height=size[0],
                                           width=size[1], **common))

    # identical outputs: latents of every cell, per-cell calls vs one batched decode
    naive_latents = torch.cat(per_cell(editor, flat, size=size, output="latent", **common))
    batched_latents = editor.decode(flat, batch_size=batch, height=size[0], width=size[1],
                                    output="latent", **common)
    latent_diff = float((naive_latents - batched_latents).abs().max())
    latent_scale = float(naive_latents.abs().max())
    pixel_diff = max(int(np.abs(np.asarray(naive_images[i * args.grid + k], np.int16)
                                - np.asarray(grid.images[i][k], np.int16)).max())
                     for i in range(args.grid) for k in range(args.grid))
    unique = grid.metadata["unique_cells"]

    name = editor.id
    print(f"\n{args.grid}x{args.grid} grid, {name}, {size[0]}x{size[1]} px, {steps} steps, "
          f"guidance {args.guidance}, device {device}, {str(dtype).removeprefix('torch.')}, "
          f"batch size {batch}, {torch.get_num_threads()} CPU thread(s)\n")
    rows = [
        ("per-cell KandinskyV22Pipeline calls", n, n, naive_s),
        ("render_grid (batched, distinct cells once)", unique, -(-unique // batch), grid_s),
        ("Editor.decode, all cells batched", n, -(-n // batch), all_s),
    ]
    print("| path | cells decoded | pipeline calls | seconds | s / image | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, decoded, calls, seconds in rows:
        print(f"| {label} | {decoded} | {calls} | {seconds:.2f} | {seconds / n:.3f} | "
              f"{naive_s / seconds:.2f}x |")
    print(f"\nidentical outputs: max |latent diff| = {latent_diff:.2e} "
          f"(relative {latent_diff / latent_scale:.2e}), max |pixel diff| = {pixel_diff} / 255")
    print("(times: fastest of {repeat} run(s); pixel differences come from the image decoder "
          "amplifying float rounding of batched kernels, which random weights do strongly)"
          .replace("{repeat}", str(repeat)))


if __name__ == "__main__":
    main()
