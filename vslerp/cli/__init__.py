"""The ``vslerp`` command line: a thin typer layer over the Python API.

Each sub-module registers its commands on :data:`vslerp.cli.app.app`; this package imports them
so that ``vslerp --help`` lists everything.
"""

from __future__ import annotations

from vslerp.cli.app import app, main

# Command modules register themselves on import (keep this list sorted).
from vslerp.cli import conformity as _conformity  # noqa: F401  isort: skip
from vslerp.cli import edit as _edit  # noqa: F401  isort: skip
from vslerp.cli import geometry as _geometry  # noqa: F401  isort: skip
from vslerp.cli import means as _means  # noqa: F401  isort: skip
from vslerp.cli import rank as _rank  # noqa: F401  isort: skip
from vslerp.cli import ui as _ui  # noqa: F401  isort: skip

__all__ = ["app", "main"]
