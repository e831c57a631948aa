"""Resumable sharded embedding jobs: accounting, atomic shards, resume, invalidation, runners."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vslerp.encoders import UnsupportedModalityError, load_encoder
from vslerp.errors import InputError, VslerpError
from vslerp.jobs import EmbeddedSource, embed_source, job_folder
from vslerp.sources import EMPTY_CAPTION, open_source
from vslerp.tiny.images import generated_images

WORDS = ["cat", "dog", "bus", "tree", "boat", "cake", "kite", "horse", "lamp", "chair"]


def _captions(n: int, empty_every: int = 5) -> list[str]:
    """``n`` caption lines; every ``empty_every``-th is blank."""
    return ["" if (i + 1) % empty_every == 0 else f"a {WORDS[i % 10]} number {i} on a table"
            for i in range(n)]


def _caption_file(tmp_path: Path, n: int = 11, name: str = "caps.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(_captions(n)) + "\n")
    return path


class Counting:
    """An encoder wrapper counting encoded items; raises after ``fail_after`` calls."""

    def __init__(self, inner, fail_after: int | None = None) -> None:
        self.inner = inner
        self.items = 0
        self.calls = 0
        self.fail_after = fail_after

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _count(self, n: int) -> None:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("injected failure")
        self.calls += 1
        self.items += n

    def encode_texts(self, texts, **kwargs):
        self._count(len(texts))
        return self.inner.encode_texts(texts, **kwargs)

    def encode_images(self, images, **kwargs):
        self._count(len(images))
        return self.inner.encode_images(images, **kwargs)


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny", device="cpu")


def _same(a: EmbeddedSource, b: EmbeddedSource) -> None:
    assert a.ids == b.ids and a.labels == b.labels and a.failed == b.failed
    assert a.fingerprint == b.fingerprint
    np.testing.assert_array_equal(a.embeddings, b.embeddings)  # bitwise


# --------------------------------------------------------------------------------------------
# accounting and contents


@pytest.mark.parametrize("shard_size", [1, 2, 5, 100])
def test_text_job_accounts_for_every_line(tmp_path, tiny, shard_size):
    lines = _captions(11)
    path = tmp_path / "caps.txt"
    path.write_text("\n".join(lines) + "\n")
    out = embed_source(open_source(path), tiny, work_dir=tmp_path / "work",
                       shard_size=shard_size, batch_size=2, progress=False)
    good = [str(i + 1) for i, line in enumerate(lines) if line]
    empty = [str(i + 1) for i, line in enumerate(lines) if not line]
    assert out.ids == good and out.failed == [(i, EMPTY_CAPTION) for i in empty]
    assert sorted(out.ids + [f for f, _ in out.failed], key=int) == \
        [str(i) for i in range(1, 12)]
    assert out.labels == [line for line in lines if line] and out.paths is None
    assert out.modality == "text" and out.encoder_id == "tiny" and out.name == "caps"
    assert out.embeddings.dtype == np.float32 and out.embeddings.shape == (len(good), 32)
    want = tiny.encode_texts([line for line in lines if line])  # oracle: direct encoding
    np.testing.assert_allclose(out.embeddings, want, rtol=1e-5, atol=1e-5)


def _png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR is rewritten to claim ``width`` x ``height``."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_image_job_records_unreadable_files_and_keeps_paths(tmp_path, tiny):
    folder = tmp_path / "generated"
    folder.mkdir()
    good = generated_images(5, 40, seed=2)
    for i, img in enumerate(good):
        img.save(folder / f"img{i}.png")
    full = (folder / "img0.png").read_bytes()
    (folder / "img1b_truncated.png").write_bytes(full[: len(full) // 2])
    (folder / "img2b_text.png").write_text("this is not a picture")
    (folder / "img3b_huge.png").write_bytes(_png_claiming(20_000, 20_000))
    (folder / "img4b_empty.png").write_bytes(b"")
    out = embed_source(open_source(folder), tiny, work_dir=tmp_path / "w", shard_size=3,
                       batch_size=2, progress=False)
    assert out.ids == [f"img{i}.png" for i in range(5)]
    assert out.paths == [folder / f"img{i}.png" for i in range(5)]
    reasons = dict(out.failed)
    assert list(reasons) == ["img1b_truncated.png", "img2b_text.png", "img3b_huge.png",
                             "img4b_empty.png"]
    assert "truncated" in reasons["img1b_truncated.png"]
    assert "not an image" in reasons["img2b_text.png"]
    assert "too many pixels" in reasons["img3b_huge.png"]
    assert "empty" in reasons["img4b_empty.png"]
    np.testing.assert_allclose(out.embeddings, tiny.encode_images(good), rtol=1e-5, atol=1e-5)


def test_manifest_and_shards_on_disk(tmp_path, tiny):
    work = tmp_path / "work"
    out = embed_source(open_source(_caption_file(tmp_path, 11)), tiny, work_dir=work,
                       shard_size=4, progress=False)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["fingerprint"] == out.fingerprint and manifest["complete"] is True
    assert manifest["n_shards"] == 3 and manifest["finished"] == [0, 1, 2]
    config = manifest["config"]
    assert config["encoder_id"] == "tiny" and config["shard_size"] == 4
    assert config["weights_digest"] == tiny.weights_digest()
    assert config["preprocessing"] == tiny.preprocessing and config["dtype"] == "float32"
    shards = sorted(work.glob("shard-*.npz"))
    assert [p.name for p in shards] == ["shard-000000.npz", "shard-000001.npz",
                                        "shard-000002.npz"]
    with np.load(shards[1], allow_pickle=False) as z:  # no pickles inside
        meta = json.loads(z["meta"].tobytes().decode())
        assert meta["items"] == ["5", "6", "7", "8"] and meta["failed"] == [["5", EMPTY_CAPTION]]
        np.testing.assert_array_equal(z["embeddings"], out.embeddings[4:7])
    assert not list(work.glob(".*.tmp"))


def test_no_work_dir_uses_a_temporary_folder(tmp_path, tiny):
    src = open_source(_caption_file(tmp_path, 6))
    a = embed_source(src, tiny, work_dir=None, shard_size=2, progress=False)
    b = embed_source(src, tiny, work_dir=tmp_path / "w", shard_size=2, progress=False)
    _same(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["caps.txt", "w"]


def test_embeddings_source_passes_through(tmp_path):
    X = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", embeddings=X, ids=np.array(["a", "b", "c", "d"]))
    out = embed_source(open_source(tmp_path / "x.npz"), None, work_dir=tmp_path / "w")
    assert out.ids == ["a", "b", "c", "d"] and out.failed == [] and out.modality == "embeddings"
    np.testing.assert_array_equal(out.embeddings, X)
    assert not (tmp_path / "w").exists()


# --------------------------------------------------------------------------------------------
# resume and invalidation


def test_injected_failure_then_resume_matches_uninterrupted_run(tmp_path, tiny):
    src = open_source(_caption_file(tmp_path, 14))
    reference = embed_source(src, tiny, work_dir=tmp_path / "ref", shard_size=3, batch_size=2,
                             progress=False)
    work = tmp_path / "work"
    crashing = Counting(tiny, fail_after=5)  # dies inside the third shard
    with pytest.raises(RuntimeError, match="injected"):
        embed_source(src, crashing, work_dir=work, shard_size=3, batch_size=2, progress=False)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["finished"] == [0, 1]
    kept = {p.name: p.stat().st_mtime_ns for p in work.glob("shard-*.npz")}
    assert sorted(kept) == ["shard-000000.npz", "shard-000001.npz"]
    resumed_encoder = Counting(tiny)
    resumed = embed_source(src, resumed_encoder, work_dir=work, shard_size=3, batch_size=2,
                           progress=False)
    _same(resumed, reference)
    # only shards 2.. were encoded again: captions 7..14 minus the blank ones (10)
    assert resumed_encoder.items == 7
    assert all((work / name).stat().st_mtime_ns == ns for name, ns in kept.items())


def test_corrupt_or_foreign_shard_is_recomputed(tmp_path, tiny):
    src = open_source(_caption_file(tmp_path, 9))
    work = tmp_path / "work"
    reference = embed_source(src, tiny, work_dir=work, shard_size=3, progress=False)
    shard = work / "shard-000001.npz"
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    other = tmp_path / "other"
    embed_source(open_source(_caption_file(tmp_path, 9, "other.txt")), load_encoder("tiny:1"),
                 work_dir=other, shard_size=3, progress=False)
    (other / "shard-000002.npz").replace(work / "shard-000002.npz")  # another job's shard
    counting = Counting(tiny)
    _same(embed_source(src, counting, work_dir=work, shard_size=3, progress=False), reference)
    assert counting.items == 5  # shards 1 and 2: captions 4..9 minus the blank 5


@pytest.mark.parametrize("change", ["encoder", "source", "shard_size"])
def test_changed_configuration_invalidates_old_shards(tmp_path, tiny, change):
    caps = _caption_file(tmp_path, 8)
    work = tmp_path / "work"
    first = embed_source(open_source(caps), tiny, work_dir=work, shard_size=4, progress=False)
    encoder, shard_size = tiny, 4
    if change == "encoder":
        encoder = load_encoder("tiny:1")
    elif change == "source":
        caps.write_text(caps.read_text().replace("number 0", "number zero"))
    else:
        shard_size = 3
    counting = Counting(encoder)
    second = embed_source(open_source(caps), counting, work_dir=work, shard_size=shard_size,
                          progress=False)
    assert second.fingerprint != first.fingerprint
    assert counting.items == 7  # everything recomputed (8 lines, one blank)
    fresh = embed_source(open_source(caps), encoder, work_dir=tmp_path / "fresh",
                         shard_size=shard_size, progress=False)
    _same(second, fresh)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["fingerprint"] == second.fingerprint
    n_shards = -(-8 // shard_size)
    assert len(list(work.glob("shard-*.npz"))) == n_shards


def test_a_second_job_on_the_same_folder_is_refused(tmp_path, tiny):
    import fcntl

    work = tmp_path / "work"
    work.mkdir()
    with open(work / ".lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another embedding job"):
            embed_source(open_source(_caption_file(tmp_path, 3)), tiny, work_dir=work,
                         progress=False)


SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import torch

    from vslerp.encoders import load_encoder
    from vslerp.jobs import embed_source
    from vslerp.sources import open_source

    caps, work, out, delay, threads = sys.argv[1:6]
    torch.set_num_threads(int(threads))
    inner = load_encoder("tiny", device="cpu")

    class Slow:
        def __getattr__(self, name):
            return getattr(inner, name)

        def encode_texts(self, texts, **kwargs):
            time.sleep(float(delay))
            print("encoded", len(texts), flush=True)
            return inner.encode_texts(texts, **kwargs)

    res = embed_source(open_source(caps), Slow(), work_dir=work, shard_size=3, batch_size=1,
                       progress=False)
    np.savez(out, embeddings=res.embeddings,
             meta=np.frombuffer(json.dumps([res.ids, res.failed, res.fingerprint]).encode(),
                                dtype=np.uint8))
""")


def _run_script(tmp_path: Path, caps: Path, work: Path, out: Path, delay: float,
                background: bool = False):
    script = tmp_path / "slow_job.py"
    script.write_text(SCRIPT)
    args = [sys.executable, str(script), str(caps), str(work), str(out), str(delay),
            str(torch.get_num_threads())]
    if background:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)


def _load_result(path: Path):
    with np.load(path, allow_pickle=False) as z:
        return z["embeddings"], json.loads(z["meta"].tobytes().decode())


def test_sigkill_mid_job_then_rerun_gives_bitwise_identical_results(tmp_path, tiny):
    caps = _caption_file(tmp_path, 24)
    work = tmp_path / "work"
    proc = _run_script(tmp_path, caps, work, tmp_path / "killed.npz", 0.25, background=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(work.glob("shard-*.npz"))) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no shard landed in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.npz").exists()
    done_before = {p.name for p in work.glob("shard-*.npz")}
    assert 2 <= len(done_before) < 8
    assert json.loads((work / "manifest.json").read_text())["complete"] is False

    rerun = _run_script(tmp_path, caps, work, tmp_path / "resumed.npz", 0.0)
    encoded = sum(int(line.split()[1]) for line in rerun.stdout.splitlines()
                  if line.startswith("encoded"))
    n_lines = len(_captions(24))
    remaining = [i for i in range(len(done_before) * 3, n_lines) if _captions(24)[i]]
    assert encoded == len(remaining)  # finished shards were not recomputed
    # the uninterrupted run, here (same code and torch thread count as the script)
    clean = embed_source(open_source(caps), tiny, work_dir=tmp_path / "clean", shard_size=3,
                         batch_size=1, progress=False)
    resumed, (ids, failed, fingerprint) = _load_result(tmp_path / "resumed.npz")
    assert ids == clean.ids and [tuple(f) for f in failed] == clean.failed
    assert fingerprint == clean.fingerprint
    assert resumed.tobytes() == clean.embeddings.tobytes()  # bitwise
    assert len(ids) + len(failed) == n_lines


# --------------------------------------------------------------------------------------------
# arguments


def test_bad_arguments(tmp_path, tiny):
    src = open_source(_caption_file(tmp_path, 3))
    for kwargs in ({"shard_size": 0}, {"batch_size": -2}, {"runner": "spark"},
                   {"ray_options": [1]}, {"work_dir": 5}):
        with pytest.raises(InputError):
            embed_source(src, tiny, **{"work_dir": tmp_path / "w", **kwargs})
    with pytest.raises(InputError, match="Source"):
        embed_source("caps.txt", tiny, work_dir=None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="Encoder"):
        embed_source(src, None, work_dir=None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        embed_source(src, tiny, work_dir=tmp_path / "file")


def test_encoder_without_the_modality_is_refused_before_any_work(tmp_path):
    from transformers import CLIPImageProcessor

    from vslerp.encoders import HFClipEncoder
    from vslerp.tiny.clip import build_tiny_clip

    clip = build_tiny_clip(0)
    image_only = HFClipEncoder(vision=clip.vision, image_processor=CLIPImageProcessor(), id="v")
    with pytest.raises(UnsupportedModalityError, match="cannot embed text"):
        embed_source(open_source(_caption_file(tmp_path, 3)), image_only,
                     work_dir=tmp_path / "w")
    assert not (tmp_path / "w").exists()


# --------------------------------------------------------------------------------------------
# Ray runner


def test_ray_runner_needs_ray_and_a_loadable_encoder(tmp_path, tiny, monkeypatch):
    src = open_source(_caption_file(tmp_path, 3))
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(VslerpError, match=r"pip install 'ray\[data\]"):
        embed_source(src, tiny, work_dir=tmp_path / "w", runner="ray", progress=False)


def test_ray_runner_matches_local_runner(tmp_path, tiny):
    import ray
    import ray.data
    src = open_source(_caption_file(tmp_path, 10))
    local = embed_source(src, tiny, work_dir=tmp_path / "local", shard_size=3, batch_size=2,
                         progress=False)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        work = tmp_path / "ray"
        distributed = embed_source(src, tiny, work_dir=work, shard_size=3, batch_size=2,
                                   runner="ray", progress=False)
        _same(distributed, local)
        assert json.loads((work / "manifest.json").read_text())["finished"] == [0, 1, 2, 3]
        # an encoder not built by load_encoder cannot be rebuilt in the workers
        bare = Counting(tiny)
        bare.load_options = None
        with pytest.raises(InputError, match="load_encoder"):
            embed_source(src, bare, work_dir=tmp_path / "bare", runner="ray", progress=False)
    finally:
        if started:
            ray.shutdown()


def test_job_folder_is_a_stable_readable_slug(tmp_path):
    a = job_folder(tmp_path, "glide v2/out")
    assert a.parent == tmp_path and a.name.startswith("glide_v2_out-")
    assert job_folder(tmp_path, "glide v2/out") == a  # does not depend on call order
    assert job_folder(tmp_path, "glide v2 out") != a  # same slug, different name
    assert job_folder(tmp_path, "../..").name.startswith("source-")  # never escapes work_dir
