"""The vslerp web UI (Gradio): ``vslerp ui`` launches it; :func:`build_app` builds it.

Example::

    from ui import build_app, launch_app

    demo = build_app(model="tiny", encoder="tiny")
    launch_app(demo, host="127.0.0.1", port=7860)
"""

from __future__ import annotations

from ui.app import build_app, launch_app

__all__ = ["build_app", "launch_app"]
