"""vslerp: generative editing and evaluation in CLIP space.

vSLERP(v_j, v_k, t, α) = SLERP(v_j − α·m, v_k − α·m, t) + α·m, with m the image-modality mean;
conformity C(v_j) = mean_{k≠j} cos(v_j, v_k). See README.md and DESIGN.md.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("vslerp")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
