"""Shared pieces of the web UI tests (``test_ui_api.py``, ``test_ui_browser.py``).

Each test module launches one app (module-scoped fixture) on 127.0.0.1 with a free port, the
tiny backend and the tiny encoder. The model registry is shared by both modules (one tiny model
load per test run); each app has its own result cache and output folder.
"""

from __future__ import annotations

import functools
import io
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ui.app import build_app, launch_app
from ui.models import ModelRegistry
from vslerp.tiny.images import generated_images

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
#: Decode steps used by the tests (few, to keep them fast on a CPU).
STEPS = 2
#: The pixel cap of the test apps: small, so that a "too many pixels" upload stays small.
MAX_PIXELS = 1_500_000
#: The upload size cap of the test apps.
MAX_FILE_SIZE = "3mb"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.lru_cache(maxsize=1)
def shared_registry() -> ModelRegistry:
    """One registry (so one tiny model load) for every UI test module of the run."""
    return ModelRegistry(device="cpu")


@dataclass
class RunningApp:
    url: str
    registry: ModelRegistry
    output_dir: Path
    demo: object


def launch_tiny_app(output_dir: Path) -> Iterator[RunningApp]:
    """Build and serve the app (tiny backend and encoder); close it afterwards."""
    registry = shared_registry()
    demo = build_app(model="tiny", encoder="tiny", output_dir=output_dir, device="cpu",
                     max_pixels=MAX_PIXELS, max_file_size=MAX_FILE_SIZE, max_grid_cells=12,
                     models=registry)
    _, url, _ = launch_app(demo, host="127.0.0.1", port=free_port(), prevent_thread_lock=True,
                           quiet=True)
    try:
        yield RunningApp(url=url, registry=registry, output_dir=output_dir, demo=demo)
    finally:
        demo.close()  # type: ignore[attr-defined]


@dataclass
class Files:
    """Test inputs written to a folder."""

    a: Path
    b: Path
    photos: list[Path]
    generated: list[Path]
    archive: Path
    notes: Path
    broken: Path
    huge: Path
    docx: Path
    heavy: Path


def write_files(folder: Path) -> Files:
    """Example photos, generated images, a zip of images and bad uploads."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(EXAMPLES.glob("*.jpg"))
    assert len(photos) >= 3, f"the example photos are missing from {EXAMPLES}"
    generated = []
    for i, image in enumerate(generated_images(10, 48, 3)):
        path = folder / f"gen{i}.png"
        image.save(path)
        generated.append(path)
    archive = folder / "outputs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in generated[6:]:
            zf.write(path, f"samples/{path.name}")
        zf.writestr("samples/README.txt", "not an image")
        zf.writestr("__MACOSX/samples/._gen6.png", "resource fork")
    notes = folder / "notes.png"
    notes.write_text("this is text, not a picture")
    broken = folder / "broken.png"
    data = generated[0].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    huge = folder / "huge.png"  # 1.92 MP > MAX_PIXELS, yet a tiny file
    Image.new("RGB", (1600, 1200), (200, 30, 30)).save(huge)
    docx = folder / "essay.docx"
    docx.write_bytes(b"PK\x03\x04 not really a document")
    heavy = folder / "heavy.png"  # over MAX_FILE_SIZE: random pixels do not compress
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (1100, 1100, 3), dtype=np.uint8)).save(buf, "PNG")
    heavy.write_bytes(buf.getvalue())
    return Files(a=photos[0], b=photos[1], photos=photos, generated=generated, archive=archive,
                 notes=notes, broken=broken, huge=huge, docx=docx, heavy=heavy)
