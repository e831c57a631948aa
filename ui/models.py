"""The models behind the web UI: which backend to start with, lazy loading, one cache per id.

* :func:`choose_backend` picks the decoder backend the app starts with: ``kandinsky-2.2`` when
  its weights can be had (in the Hugging Face cache, or the hub is reachable), otherwise
  ``tiny`` together with the reason, shown as a banner. The check is
  :func:`vslerp.hub.resolve_local_files_only`: a cache lookup and at most one short TCP probe.
* :func:`choose_encoder` does the same for the evaluator encoder of the Conformity and Rank
  tabs (``openclip:ViT-B-32/openai``, the paper's, else ``tiny``).
* :class:`ModelRegistry` loads an editor or encoder on first use and keeps it, one per id.
  Diffusers pipelines keep mutable scheduler state (``set_timesteps`` and ``step`` write to the
  pipeline's one scheduler) and the editors' embedding caches are plain ``OrderedDict``\\ s, so
  every use of a model goes through :attr:`ModelRegistry.lock`: one model call at a time, in
  addition to the app's single-slot queue for model events.
* :class:`ResultCache` keeps the last decoded images, keyed by the embedding's bytes and the
  decode settings, so scrubbing back to an earlier (t, α) shows the image at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vslerp.editors import EDITORS, Editor, load_editor
from vslerp.editors.kandinsky import KANDINSKY22_DECODER, KANDINSKY22_PRIOR
from vslerp.encoders import DEFAULT_ENCODER, Encoder, load_encoder
from vslerp.errors import InputError, ModelUnavailableError
from vslerp.hub import resolve_local_files_only

__all__ = [
    "PREFERRED_BACKEND",
    "TINY",
    "TINY_LABEL",
    "BackendDefaults",
    "ModelRegistry",
    "ResultCache",
    "backend_choices",
    "backend_defaults",
    "backend_label",
    "choose_backend",
    "choose_encoder",
    "encoder_label",
]

PREFERRED_BACKEND = "kandinsky-2.2"
TINY = "tiny"
TINY_LABEL = "tiny (offline, random weights)"
_HINT = "pick the tiny backend to try the app offline"

ProgressFn = Callable[[str], object]
"""``progress(message)``: told what is being loaded before a (possibly long) load."""


@dataclass(frozen=True)
class BackendDefaults:
    """Decode settings the UI starts with for a backend."""

    steps: int
    guidance: float


_DEFAULTS: dict[str, BackendDefaults] = {
    # The tiny model's pictures carry no meaning; few steps keep it snappy on a CPU.
    TINY: BackendDefaults(steps=10, guidance=4.0),
}
_REAL_DEFAULTS = BackendDefaults(steps=25, guidance=4.0)


def backend_defaults(model: str) -> BackendDefaults:
    """Starting steps and guidance for ``model``."""
    return _DEFAULTS.get(model, _REAL_DEFAULTS)


def backend_label(model: str) -> str:
    """What the UI calls a backend; the tiny one always says it is offline with random
    weights, so that nobody mistakes its pictures for a real model's."""
    if model == TINY:
        return TINY_LABEL
    return f"{model}: {EDITORS.get(model, 'unknown backend')}"


def backend_choices() -> list[tuple[str, str]]:
    """``(label, id)`` pairs for the backend dropdown, the real models first."""
    return [(backend_label(m), m) for m in EDITORS if m != TINY] + [(TINY_LABEL, TINY)]


def encoder_label(spec: str) -> str:
    """What the UI calls an evaluator encoder."""
    if spec.strip() == TINY:
        return "tiny CLIP (offline, random weights)"
    if spec == DEFAULT_ENCODER:
        return f"{spec} (the paper's CLIP ViT-B/32)"
    return spec


def _kandinsky_unavailable() -> str | None:
    """``None`` when Kandinsky 2.2 can be loaded (cached, or the hub is reachable), else the
    reason, naming the cache."""
    try:
        resolve_local_files_only(KANDINSKY22_DECODER, probe_file="model_index.json",
                                 what="the Kandinsky 2.2 decoder", hint=_HINT)
        resolve_local_files_only(KANDINSKY22_PRIOR, probe_file="config.json",
                                 subfolder="image_encoder",
                                 what="the Kandinsky 2.2 image encoder", hint=_HINT)
    except ModelUnavailableError as err:
        return str(err)
    return None


def choose_backend(model: str | None) -> tuple[str, str | None]:
    """The backend to start with and, when it is not what was asked for (or what was asked
    for cannot be loaded), a sentence saying why, for the banner.

    Args:
        model: a backend id, or ``None`` for ``kandinsky-2.2`` when its weights can be had
            and ``tiny`` otherwise.

    Raises:
        InputError: an unknown backend id.
    """
    if model is not None:
        if model not in EDITORS:
            raise InputError("model", model, f"unknown backend; known: {', '.join(EDITORS)}")
        if model == PREFERRED_BACKEND:
            reason = _kandinsky_unavailable()
            if reason is not None:
                return model, (f"{reason} Loading it will fail until then; pick "
                               f"'{TINY_LABEL}' in the backend menu to try the app offline.")
        return model, None
    reason = _kandinsky_unavailable()
    if reason is None:
        return PREFERRED_BACKEND, None
    return TINY, reason


def _default_encoder_unavailable() -> str | None:
    """``None`` when :data:`~vslerp.encoders.DEFAULT_ENCODER` can be loaded, else why not."""
    import open_clip

    from vslerp.encoders.openclip import resolve_openclip_weights

    name, _, tag = DEFAULT_ENCODER.removeprefix("openclip:").partition("/")
    try:
        cfg = open_clip.get_pretrained_cfg(name, tag)
        resolve_openclip_weights(name, tag, cfg, spec=DEFAULT_ENCODER)
    except ModelUnavailableError as err:
        return str(err)
    return None


def choose_encoder(spec: str | None) -> tuple[str, str | None]:
    """The evaluator encoder to start with (``spec``, or the paper's CLIP ViT-B/32 when its
    weights can be had, else ``tiny``) and, for a fallback, the reason."""
    if spec is not None:
        if not isinstance(spec, str) or not spec.strip():
            raise InputError("encoder", spec, "expected an encoder spec such as "
                                              f"{DEFAULT_ENCODER} or tiny")
        return spec.strip(), None
    reason = _default_encoder_unavailable()
    return (DEFAULT_ENCODER, None) if reason is None else (TINY, reason)


class ModelRegistry:
    """Editors and encoders, each loaded on first use and then kept (one per id).

    Args:
        device: torch device for every model (default: CUDA when available).

    Attributes:
        lock: held around every call into a model (see the module docstring).
    """

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self.lock = threading.RLock()
        self._editors: dict[str, Editor] = {}
        self._encoders: dict[str, Encoder] = {}

    def editor(self, model: str, progress: ProgressFn | None = None) -> Editor:
        """The editor for backend ``model``, loaded now if it is not yet.

        Raises:
            InputError: unknown backend id.
            ModelUnavailableError: weights cannot be had (the message says what to do).
        """
        if not isinstance(model, str) or model not in EDITORS:
            raise InputError("backend", model, f"unknown backend; known: {', '.join(EDITORS)}")
        with self.lock:
            if model not in self._editors:
                if progress is not None:
                    progress(f"Loading {backend_label(model)} (first use)")
                self._editors[model] = load_editor(model, device=self.device)
            return self._editors[model]

    def encoder(self, spec: str, progress: ProgressFn | None = None) -> Encoder:
        """The evaluator encoder for ``spec`` (see :func:`vslerp.encoders.load_encoder`),
        loaded now if it is not yet."""
        if not isinstance(spec, str) or not spec.strip():
            raise InputError("encoder", spec, f"expected an encoder spec such as "
                                              f"{DEFAULT_ENCODER} or tiny")
        spec = spec.strip()
        with self.lock:
            if spec not in self._encoders:
                if progress is not None:
                    progress(f"Loading encoder {encoder_label(spec)} (first use)")
                self._encoders[spec] = load_encoder(spec, device=self.device)
            return self._encoders[spec]

    def loaded_editor(self, model: str) -> Editor | None:
        """The editor for ``model`` if it is loaded already, else ``None`` (never loads)."""
        return self._editors.get(model)


class ResultCache:
    """A thread-safe least-recently-used map from a hashable key to a decoded image."""

    def __init__(self, size: int = 64) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputError("size", size, "expected a positive int")
        self.size = size
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Image.Image | None:
        with self._lock:
            image = self._data.get(key)
            if image is None:
                self.misses += 1
                return None
            self.hits += 1
            self._data.move_to_end(key)
            return image

    def put(self, key: Hashable, image: Image.Image) -> None:
        with self._lock:
            self._data[key] = image
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Any) -> bool:
        return key in self._data
