"""Atomic writes and embedding-file loading."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from vslerp.errors import InputError
from vslerp.fileio import (
    atomic_write,
    load_embeddings,
    save_embeddings,
    write_json_atomic,
    write_text_atomic,
)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "a.txt"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"ok": 1})
    with pytest.raises(RuntimeError), atomic_write(target, "w") as fh:
        fh.write("partial")
        raise RuntimeError("boom")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"ok":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_nan_is_refused_in_json(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"x": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "report.html", "<p>hi</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_embeddings_round_trip(tmp_path, suffix):
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    path = save_embeddings(tmp_path / f"e{suffix}", x, metadata={"encoder": "tiny"} if
                           suffix == ".safetensors" else None)
    np.testing.assert_array_equal(load_embeddings(path), x)


def test_npz_picks_named_or_single_array(tmp_path):
    x = np.ones((3, 4), np.float32)
    np.savez(tmp_path / "one.npz", feats=x)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "one.npz"), x)
    np.savez(tmp_path / "two.npz", a=x, b=2 * x)
    with pytest.raises(InputError, match="several arrays"):
        load_embeddings(tmp_path / "two.npz")
    np.testing.assert_array_equal(load_embeddings(tmp_path / "two.npz", key="b"), 2 * x)


def test_bad_embedding_files_are_named(tmp_path):
    np.save(tmp_path / "vec.npy", np.ones(4))
    with pytest.raises(InputError, match="2-D"):
        load_embeddings(tmp_path / "vec.npy")
    bad = np.ones((3, 4))
    bad[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(InputError, match=r"rows 1"):
        load_embeddings(tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"obj\.npy"):
        load_embeddings(tmp_path / "obj.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(InputError, match="unsupported"):
        load_embeddings(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        load_embeddings(tmp_path / "missing.npy")
    with pytest.raises(InputError, match="D=3"):
        load_embeddings(tmp_path / "nan.npy", dim=3)
