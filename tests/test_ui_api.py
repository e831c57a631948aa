"""The web UI through its HTTP API (gradio_client), against the app served on 127.0.0.1 with the
tiny backend and the tiny encoder; results are checked against the vslerp API itself."""

from __future__ import annotations

import json
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from ui_helpers import MAX_PIXELS, STEPS, Files, RunningApp, launch_tiny_app, write_files

from ui.app import app_settings, build_app, launch_app
from ui.models import ResultCache, choose_backend
from ui.outputs import OutputFolder
from ui.uploads import UploadError, stage_files
from vslerp.conformity import ConformityMeter, conformity, score_embeddings
from vslerp.errors import InputError
from vslerp.grid import interpolate as grid_interpolate
from vslerp.imaging import load_image
from vslerp.interpolation import angle


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return write_files(tmp_path_factory.mktemp("ui-api-files"))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    yield from launch_tiny_app(tmp_path_factory.mktemp("ui-api-out"))


@pytest.fixture(scope="module")
def client(running: RunningApp) -> Client:
    return Client(running.url, verbose=False, download_files=str(running.output_dir / "dl"))


def _interpolate(client: Client, a: Path, b: Path, t: float, alpha: float, *,
                 seed: int = 0, a_kind: str = "Image", a_prompt: str = "") -> tuple[Any, ...]:
    a_file = None if a_kind == "Prompt" else handle_file(a)
    return client.predict("tiny", a_kind, a_file, a_prompt, "Image", handle_file(b), "", t,
                          alpha, seed, STEPS, 4.0, api_name="/interpolate")


class _Counter:
    """Counts forward calls of a torch module."""

    def __init__(self, module: Any) -> None:
        self.calls = 0
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, *_: Any) -> None:
        self.calls += 1

    def remove(self) -> None:
        self._handle.remove()


# ------------------------------------------------------------------------------ interpolate


def test_interpolate_returns_the_vslerp_image_and_its_geometry(client: Client, files: Files,
                                                                running: RunningApp) -> None:
    image_path, geometry, status = _interpolate(client, files.a, files.b, 0.4, 1.5, seed=3)
    got = np.asarray(Image.open(image_path).convert("RGB"))
    editor = running.registry.editor("tiny")
    with running.registry.lock:
        want = grid_interpolate(editor, load_image(files.a), load_image(files.b), t=0.4,
                                alpha=1.5, seed=3, steps=STEPS, guidance=4.0)
        v = editor.embed_images([load_image(files.a), load_image(files.b)])
    assert got.shape == (64, 64, 3)
    assert np.array_equal(got, np.asarray(want)), "the UI must decode what vslerp decodes"
    omega = float(angle(v[0], v[1]))
    omega_alpha = float(angle(v[0], v[1], alpha=1.5, mean=editor.image_mean()))
    assert f"**cos(A, B)** = {np.cos(omega):.4f}" in geometry
    assert f"{np.degrees(omega):.2f}°" in geometry
    assert f"{np.degrees(omega_alpha):.2f}° at α = 1.5" in geometry
    assert "Decoded in" in status and "tiny (offline, random weights)" in status


def test_slider_moves_never_encode_again_and_revisits_come_from_the_cache(
        client: Client, files: Files, running: RunningApp) -> None:
    editor = running.registry.editor("tiny")
    encoder_calls = _Counter(editor.image_encoder)
    decoder_calls = _Counter(editor.decoder.unet)  # type: ignore[attr-defined]
    try:
        first = _interpolate(client, files.b, files.a, 0.5, 0.0)
        after_first = encoder_calls.calls
        statuses = []
        for t, alpha in ((0.25, 1.0), (0.75, -1.0), (0.6, 2.0)):
            statuses.append(_interpolate(client, files.b, files.a, t, alpha)[2])
        assert encoder_calls.calls == after_first, "a slider move must not re-encode A or B"
        assert all(s.startswith("Decoded in") for s in statuses)
        unet_before = decoder_calls.calls
        again = _interpolate(client, files.b, files.a, 0.25, 1.0)
        assert decoder_calls.calls == unet_before, "a (t, α) seen before must not be decoded"
        assert again[2].startswith("Shown from the cache")
        back = _interpolate(client, files.b, files.a, 0.5, 0.0)
        assert np.array_equal(np.asarray(Image.open(back[0])), np.asarray(Image.open(first[0])))
        assert encoder_calls.calls == after_first
    finally:
        encoder_calls.remove()
        decoder_calls.remove()


def test_prompt_endpoint_goes_through_the_prior(client: Client, files: Files,
                                                running: RunningApp) -> None:
    image_path, _, status = _interpolate(client, files.a, files.b, 0.0, 0.0, seed=5,
                                         a_kind="Prompt", a_prompt="a red fox in the snow")
    editor = running.registry.editor("tiny")
    with running.registry.lock:
        want = grid_interpolate(editor, "prompt:a red fox in the snow", load_image(files.b),
                                t=0.0, alpha=0.0, seed=5, steps=STEPS, guidance=4.0)
    assert np.array_equal(np.asarray(Image.open(image_path).convert("RGB")), np.asarray(want))
    assert "Decoded" in status or "cache" in status


def test_concurrent_requests_give_the_sequential_results(client: Client, files: Files) -> None:
    settings = [(0.3, 0.5, 11), (0.7, -0.5, 12), (0.5, 2.5, 13)]
    jobs = [client.submit("tiny", "Image", handle_file(files.a), "", "Image",
                          handle_file(files.photos[2]), "", t, a, s, STEPS, 4.0,
                          api_name="/interpolate") for t, a, s in settings]
    together = [np.asarray(Image.open(job.result(timeout=300)[0])) for job in jobs]
    for (t, a, s), got in zip(settings, together, strict=True):
        alone = client.predict("tiny", "Image", handle_file(files.a), "", "Image",
                               handle_file(files.photos[2]), "", t, a, s, STEPS, 4.0,
                               api_name="/interpolate")
        assert np.array_equal(np.asarray(Image.open(alone[0])), got)


# ------------------------------------------------------------------------------ grid


def test_grid_returns_t_by_k_cells_sheet_gifs_and_zip(client: Client, files: Files) -> None:
    gallery, sheet, gif_t, gif_alpha, archive, summary = client.predict(
        "tiny", "Image", handle_file(files.a), "", "Image", handle_file(files.b), "", "0:1:3",
        "-1, 1", 0, STEPS, 4.0, 4, api_name="/grid")
    cells = gallery["value"] if isinstance(gallery, dict) else gallery
    assert len(cells) == 3 * 2
    assert [c["caption"] for c in cells] == [f"t = {t} · α = {a}" for t in ("0", "0.5", "1")
                                             for a in ("-1", "1")]
    assert Image.open(cells[0]["image"]).size == (64, 64)
    assert Image.open(sheet).width > 2 * 64
    for gif in (gif_t, gif_alpha):
        with Image.open(gif) as anim:
            assert anim.format == "GIF" and anim.n_frames >= 2
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"manifest.json", "sheet.png", "embeddings.npy"} <= names
    assert {c["file"] for c in manifest["cells"]} <= names and len(manifest["cells"]) == 6
    assert manifest["model"] == "tiny" and manifest["t"] == [0.0, 0.5, 1.0]
    assert "3 × 2 cells" in summary


def test_grid_refuses_bad_ranges_and_too_many_cells(client: Client, files: Files) -> None:
    args = ["tiny", "Image", handle_file(files.a), "", "Image", handle_file(files.b), ""]
    with pytest.raises(AppError, match="t values"):
        client.predict(*args, "zero to one", "0", 0, STEPS, 4.0, 4, api_name="/grid")
    with pytest.raises(AppError, match="13 cells; at most 12"):
        client.predict(*args, "0:1:13", "0", 0, STEPS, 4.0, 4, api_name="/grid")


# ------------------------------------------------------------------------------ conformity


def _table(value: Any) -> list[list[Any]]:
    return value["data"] if isinstance(value, dict) else value


def test_conformity_of_images_matches_vslerp(client: Client, files: Files,
                                             running: RunningApp) -> None:
    uploads = [*files.photos, *files.generated[:3]]
    table, histogram, most, least, _, csv_path, summary = client.predict(
        "tiny", "Images", [handle_file(p) for p in uploads], "", None, "",
        api_name="/conformity")
    rows = _table(table)
    encoder = running.registry.encoder("tiny")
    X = encoder.encode_images([load_image(p) for p in uploads])
    exact = conformity(X)
    estimated = score_embeddings(X).estimated
    want = {p.name: (exact[i], estimated[i]) for i, p in enumerate(uploads)}
    assert sorted(r[1] for r in rows) == sorted(want)
    assert [r[0] for r in rows] == list(range(1, len(uploads) + 1))
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    for _, item, c, est in rows:
        assert c == pytest.approx(want[item][0], abs=2e-6)
        assert est == pytest.approx(want[item][1], abs=2e-6)
    assert Image.open(histogram).size[0] > 300
    assert len(most["value"]) == len(least["value"]) == 3
    assert most["value"][0]["caption"].endswith(rows[0][1])
    assert least["value"][0]["caption"].endswith(rows[-1][1])
    header = Path(csv_path).read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,item,conformity,estimated"
    assert "6 images" in summary and "every other uploaded item" in summary


def test_conformity_against_a_reference_set(client: Client, files: Files,
                                            running: RunningApp) -> None:
    items, reference = files.generated[:3], files.generated[3:8]
    table, *_, summary = client.predict(
        "tiny", "Images", [handle_file(p) for p in items], "",
        [handle_file(p) for p in reference], "", api_name="/conformity")
    encoder = running.registry.encoder("tiny")
    meter = ConformityMeter().update(encoder.encode_images([load_image(p) for p in reference]))
    want = conformity(encoder.encode_images([load_image(p) for p in items]),
                      meter.compute().reference)
    got = {row[1]: row[2] for row in _table(table)}
    for path, value in zip(items, want, strict=True):
        assert got[path.name] == pytest.approx(value, abs=2e-6)
    assert "the 5 items of the reference set" in summary


def test_conformity_of_captions(client: Client, running: RunningApp) -> None:
    captions = ["a dog on a beach", "a photo of a dog", "", "a bowl of ramen with an egg"]
    table, _, most, _, text, *_ = client.predict(
        "tiny", "Captions", None, "\n".join(captions), None, "", api_name="/conformity")
    rows = _table(table)
    kept = [c for c in captions if c]
    exact = conformity(running.registry.encoder("tiny").encode_texts(kept))
    assert {r[1]: r[2] for r in rows} == pytest.approx(dict(zip(kept, exact, strict=True)),
                                                       abs=2e-6)
    assert most["visible"] is False and text["visible"] is True
    assert "Least conforming" in text["value"]


def test_conformity_needs_two_items(client: Client, files: Files) -> None:
    with pytest.raises(AppError, match="at least 2 items"):
        client.predict("tiny", "Images", [handle_file(files.a)], "", None, "",
                       api_name="/conformity")


# ------------------------------------------------------------------------------ rank


def test_rank_returns_the_report(client: Client, files: Files) -> None:
    hostile = "<script>alert(1)</script>"
    table, histogram, frame, report_files, summary = client.predict(
        "tiny", "real", [handle_file(p) for p in files.generated[:5]],
        "glide", [handle_file(p) for p in files.photos], hostile, [handle_file(files.archive)],
        "", None, "", None, api_name="/rank")
    rows = _table(table)
    assert rows[0][:3] == ["ref", "real", 5]
    assert sorted(r[1] for r in rows[1:]) == sorted(["glide", hostile])
    assert sorted(r[0] for r in rows[1:]) == [1, 2]
    assert {r[1]: r[2] for r in rows}[hostile] == 4  # the zip's four images, README skipped
    names = {Path(p).name for p in report_files}
    assert {"report.html", "ranking.csv", "ranking.json", "scores.csv"} <= names
    data = json.loads(next(Path(p) for p in report_files
                           if p.endswith("ranking.json")).read_text(encoding="utf-8"))
    w1 = {s["name"]: s["w1"] for s in data["sources"]}
    for row in rows[1:]:
        assert row[6] == pytest.approx(w1[row[1]], abs=1e-4)
    assert frame.startswith('<iframe class="vslerp-report"') and 'sandbox=""' in frame
    assert "<script>" not in frame, "user text must reach the page escaped"
    assert Image.open(histogram).size[0] > 300
    assert "README.txt" in summary  # the skipped archive member is reported


def test_rank_refuses_duplicate_names_and_missing_sets(client: Client, files: Files) -> None:
    ref = [handle_file(p) for p in files.generated[:3]]
    src = [handle_file(p) for p in files.generated[3:5]]
    with pytest.raises(AppError, match="used twice"):
        client.predict("tiny", "real", ref, "same", src, "same", src, "", None, "", None,
                       api_name="/rank")
    with pytest.raises(AppError, match="at least one set to rank"):
        client.predict("tiny", "real", ref, "a", None, "b", None, "", None, "", None,
                       api_name="/rank")


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("attr", "reason"), [
    ("notes", "not an image"),
    ("broken", "truncated"),
    ("huge", "too many pixels"),
    ("docx", "not an image"),
])
def test_bad_endpoint_upload_names_the_file(client: Client, files: Files, attr: str,
                                            reason: str) -> None:
    bad = getattr(files, attr)
    with pytest.raises(AppError) as err:
        _interpolate(client, bad, files.b, 0.5, 0.0)
    assert f"'{bad.name}'" in str(err.value) and reason in str(err.value)
    assert str(bad.parent) not in str(err.value), "server paths must not leak"


def test_bad_file_in_a_set_names_the_file(client: Client, files: Files) -> None:
    with pytest.raises(AppError, match=r"'broken\.png' \(truncated"):
        client.predict("tiny", "Images", [handle_file(files.a), handle_file(files.broken)], "",
                       None, "", api_name="/conformity")
    with pytest.raises(AppError, match=r"cannot use 'essay\.docx'"):
        client.predict("tiny", "real", [handle_file(files.a), handle_file(files.docx)], "g",
                       [handle_file(files.b)], "", None, "", None, "", None, api_name="/rank")


def test_oversized_upload_is_refused_and_the_app_stays_up(client: Client, files: Files) -> None:
    assert files.heavy.stat().st_size > 3 * 1024 * 1024
    with pytest.raises(Exception, match=r"(?i)size|large|413"):
        _interpolate(client, files.heavy, files.b, 0.5, 0.0)
    image_path, _, _ = _interpolate(client, files.a, files.b, 0.5, 0.0)
    assert Image.open(image_path).size == (64, 64)


# ------------------------------------------------------------------------------ configuration


def test_launch_settings(running: RunningApp) -> None:
    demo: Any = running.demo
    settings = app_settings(demo)
    assert demo.allowed_paths == [str(settings.outputs.root)]
    assert settings.outputs.root == running.output_dir.resolve()
    assert demo.max_file_size == 3 * 1024 * 1024
    assert demo.share is False
    assert demo._queue.max_size == 32
    heavy = {fn.api_name: fn for fn in demo.fns.values()
             if fn.api_name in ("interpolate", "grid", "conformity", "rank")}
    assert len(heavy) == 4
    for fn in heavy.values():
        assert fn.concurrency_limit == 1 and fn.concurrency_id == "model"
    assert MAX_PIXELS < 1600 * 1200


def test_choose_backend_offline_falls_back_to_tiny_with_a_reason(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    model, reason = choose_backend(None)
    assert model == "tiny"
    assert reason is not None and "kandinsky" in reason.lower() and "offline" in reason
    assert choose_backend("tiny") == ("tiny", None)
    with pytest.raises(InputError, match="unknown backend"):
        choose_backend("dall-e")


def test_build_and_launch_refuse_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="model"):
        build_app(model="nope", encoder="tiny", output_dir=tmp_path)
    with pytest.raises(InputError, match="queue_size"):
        build_app(model="tiny", encoder="tiny", output_dir=tmp_path, queue_size=0)
    demo = build_app(model="tiny", encoder="tiny", output_dir=tmp_path / "out")
    with pytest.raises(InputError, match="port"):
        launch_app(demo, port=70000)
    with pytest.raises(InputError, match="share"):
        launch_app(demo, share="yes")  # type: ignore[arg-type]


def test_staged_uploads_get_generated_names(tmp_path: Path, files: Files) -> None:
    staged = stage_files([files.a, files.archive], tmp_path / "set", what="Set 'x'")
    assert staged.modality == "image" and staged.count == 5
    assert sorted(p.name for p in staged.path.iterdir()) == [f"{i:05d}{s}" for i, s in
                                                             ((1, ".jpg"), (2, ".png"),
                                                              (3, ".png"), (4, ".png"),
                                                              (5, ".png"))]
    assert staged.labels["00001.jpg"] == files.a.name
    assert staged.labels["00002.png"] == "outputs.zip/samples/gen6.png"
    assert any("README.txt" in note for note in staged.notes)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr(f"{tmp_path}/escape.png", files.generated[0].read_bytes())
        zf.writestr("a/../../escape2.png", files.generated[1].read_bytes())
    staged = stage_files([evil], tmp_path / "evil", what="Set 'e'")
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "escape2.png").exists()
    assert [p.name for p in staged.path.iterdir()] == ["00001.png"]  # '..' entries skipped
    with pytest.raises(UploadError, match="mixes images with caption files"):
        caption = tmp_path / "caps.txt"
        caption.write_text("a\nb\n")
        stage_files([files.a, caption], tmp_path / "mixed", what="Set 'm'")
    with pytest.raises(UploadError, match=r"'bad\.zip' is not a readable \.zip"):
        (tmp_path / "bad.zip").write_bytes(b"nope")
        stage_files([tmp_path / "bad.zip"], tmp_path / "b", what="Set 'b'")


def test_output_folder_keeps_the_newest_runs(tmp_path: Path) -> None:
    outputs = OutputFolder(tmp_path / "out", keep=3)
    runs = [outputs.new_run("grid") for _ in range(5)]
    assert sorted(p.name for p in outputs.root.iterdir()) == sorted(p.name for p in runs[-3:])
    assert all(re.fullmatch(r"grid-\d{8}-\d{6}-[0-9a-f]{8}", p.name) for p in runs)
    with pytest.raises(InputError, match="kind"):
        outputs.new_run("../x")


def test_result_cache_is_lru_and_thread_safe() -> None:
    cache = ResultCache(size=2)
    images = [Image.new("RGB", (2, 2), (i, 0, 0)) for i in range(3)]
    cache.put("a", images[0])
    cache.put("b", images[1])
    assert cache.get("a") is images[0]
    cache.put("c", images[2])  # evicts b, the least recently used
    assert "b" not in cache and cache.get("a") is images[0] and len(cache) == 2

    def hammer(k: int) -> None:
        for i in range(200):
            cache.put((k, i % 5), images[i % 3])
            cache.get((k, (i + 1) % 5))

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(cache) == 2
