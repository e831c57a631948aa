"""`vslerp means ...` and `vslerp conformity` end to end, with real files in tmp_path.

Numbers are checked against float64 oracles written here; failures must exit with code 2, print
``error: ...`` naming the problem, and leave no output file behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, read_csv, run
from safetensors.numpy import save_file

from vslerp.means import ModalityMean


def clip_like(n: int, d: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(d)
    return ((centre + 0.8 * rng.standard_normal((n, d))) * rng.uniform(0.5, 2, (n, 1))).astype(
        np.float32)


def unit(X) -> np.ndarray:
    X = np.asarray(X, np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def gram_conformity(X) -> np.ndarray:
    U = unit(X)
    G = U @ U.T
    return (G.sum(1) - np.diag(G)) / (len(U) - 1)





def only_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def emb(tmp_path: Path) -> tuple[Path, np.ndarray]:
    X = clip_like(120, 16, seed=1)
    path = tmp_path / "X.npy"
    np.save(path, X)
    return path, X


# ---------------------------------------------------------------------------------------------
# means


def test_means_compute_and_show(tmp_path: Path, emb):
    path, X = emb
    out = tmp_path / "m.safetensors"
    result = run("means", "compute", "--embeddings", path, "-o", out, "--encoder", "enc-1",
                 "--modality", "text", "--source", "unit test set")
    assert result.exit_code == 0, result.output
    mean = ModalityMean.load(out, dim=16, encoder="enc-1")
    np.testing.assert_allclose(mean.mean, X.astype(np.float64).mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(mean.unit_mean, unit(X).mean(0), rtol=0, atol=1e-12)
    assert (mean.modality, mean.source, mean.count) == ("text", "unit test set", 120)

    shown = run("means", "show", out)
    assert shown.exit_code == 0, shown.output
    lines = dict(line.split(":", 1) for line in shown.stdout.splitlines())
    assert lines["dim"].strip() == "16" and lines["encoder"].strip() == "enc-1"
    assert lines["modality"].strip() == "text" and lines["count"].strip() == "120"
    assert lines["source"].strip() == "unit test set"
    norm = float(lines["‖m‖"])
    assert norm == pytest.approx(np.linalg.norm(X.astype(np.float64).mean(0)), rel=1e-5)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_means_compute_reads_npz_and_safetensors(tmp_path: Path, suffix):
    X = clip_like(30, 8, seed=2)
    path = tmp_path / f"X{suffix}"
    if suffix == ".npz":
        np.savez(path, embeddings=X)
    else:
        save_file({"embeddings": X}, str(path))
    out = tmp_path / "m.safetensors"
    result = run("means", "compute", "-e", path, "-o", out)
    assert result.exit_code == 0, result.output
    mean = ModalityMean.load(out)
    assert mean.modality == "image" and mean.encoder == "unknown" and path.name in mean.source
    np.testing.assert_allclose(mean.mean, X.astype(np.float64).mean(0), rtol=0, atol=1e-12)


def test_means_convert_legacy_tensor(tmp_path: Path):
    values = torch.randn(1, 24, dtype=torch.float64)
    torch.save(values, tmp_path / "mean_feat.pt")
    out = tmp_path / "m.safetensors"
    result = run("means", "convert", tmp_path / "mean_feat.pt", "-o", out, "--encoder",
                 "ViT-L/14", "--modality", "image")
    assert result.exit_code == 0, result.output
    mean = ModalityMean.load(out, encoder="ViT-L/14")
    np.testing.assert_array_equal(mean.mean, values.numpy()[0])
    assert mean.unit_mean is None and "none" in result.stdout


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_means_convert_refuses_pickled_objects(tmp_path: Path):
    marker = tmp_path / "executed"
    torch.save([_Payload(marker)], tmp_path / "evil.pt")
    out = tmp_path / "m.safetensors"
    result = run("means", "convert", tmp_path / "evil.pt", "-o", out, "--encoder", "e",
                 "--modality", "image")
    assert_user_error(result, "evil.pt", "refused")
    assert not marker.exists() and not out.exists()


def test_means_errors(tmp_path: Path, emb):
    path, _ = emb
    assert_user_error(run("means", "show", tmp_path / "missing.safetensors"), "not found")
    assert_user_error(run("means", "compute", "-e", path, "-o", tmp_path / "m.txt"), ".safetensors")
    np.save(tmp_path / "vec.npy", np.ones(5, np.float32))
    assert_user_error(run("means", "compute", "-e", tmp_path / "vec.npy", "-o",
                      tmp_path / "m.safetensors"), "vec.npy", "2-D")
    zero = clip_like(10, 4)
    zero[6] = 0
    np.save(tmp_path / "zero.npy", zero)
    assert_user_error(run("means", "compute", "-e", tmp_path / "zero.npy", "-o",
                      tmp_path / "m.safetensors"), "row(s) 6 have zero norm")
    assert not (tmp_path / "m.safetensors").exists()
    bad_modality = run("means", "compute", "-e", path, "-o", tmp_path / "m.safetensors",
                       "--modality", "audio")
    assert bad_modality.exit_code == 2 and not (tmp_path / "m.safetensors").exists()


# ---------------------------------------------------------------------------------------------
# conformity


def test_conformity_in_set_csv_and_summary(tmp_path: Path, emb):
    path, X = emb
    out, summary = tmp_path / "scores.csv", tmp_path / "summary.json"
    result = run("conformity", "--embeddings", path, "-o", out, "--summary", summary)
    assert result.exit_code == 0, result.output
    header, rows = read_csv(out)
    assert header == ["id", "conformity", "estimated"]
    assert [r[0] for r in rows] == [str(i) for i in range(120)]
    exact = gram_conformity(X)
    np.testing.assert_allclose([float(r[1]) for r in rows], exact, rtol=0, atol=1e-6)

    m = X.astype(np.float64).mean(0)
    cos = unit(X) @ (m / np.linalg.norm(m))
    a, b = np.polyfit(cos, exact, 1)
    np.testing.assert_allclose([float(r[2]) for r in rows], a * cos + b, rtol=0, atol=1e-5)

    info = json.loads(summary.read_text())
    assert info["n"] == 120 and info["reference"] == "in-set"
    assert info["a"] == pytest.approx(a, rel=1e-4) and info["b"] == pytest.approx(b, abs=1e-4)
    assert info["pearson"] == pytest.approx(np.corrcoef(cos, exact)[0, 1], abs=1e-6)
    assert info["conformity"]["mean"] == pytest.approx(exact.mean(), abs=1e-6)
    assert info["conformity"]["median"] == pytest.approx(np.median(exact), abs=1e-6)
    assert info["conformity"]["std"] == pytest.approx(exact.std(), abs=1e-6)
    assert only_files(tmp_path) == ["X.npy", "scores.csv", "summary.json"]


def test_conformity_against_a_reference_file(tmp_path: Path, emb):
    ref_path, S = emb
    mean_path = tmp_path / "ref.safetensors"
    assert run("means", "compute", "-e", ref_path, "-o", mean_path, "--encoder", "enc",
               "--source", "real images").exit_code == 0
    Y = clip_like(25, 16, seed=3)
    np.save(tmp_path / "Y.npy", Y)
    out, summary = tmp_path / "scores.csv", tmp_path / "s.json"
    result = run("conformity", "-e", tmp_path / "Y.npy", "-o", out, "--reference", mean_path,
                 "--summary", summary)
    assert result.exit_code == 0, result.output
    _, rows = read_csv(out)
    expected = (unit(Y) @ unit(S).T).mean(axis=1)  # mean cosine to every reference sample
    np.testing.assert_allclose([float(r[1]) for r in rows], expected, rtol=0, atol=1e-6)
    ref = json.loads(summary.read_text())["reference"]
    assert ref["path"] == str(mean_path) and ref["encoder"] == "enc"
    assert ref["source"] == "real images" and ref["count"] == 120


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    cases = {}
    txt = tmp_path / "X.txt"
    txt.write_text("1 2 3\n")
    cases["suffix"] = (txt, ("X.txt", "unsupported"))
    np.save(tmp_path / "rank3.npy", np.ones((2, 3, 4), np.float32))
    cases["shape"] = (tmp_path / "rank3.npy", ("rank3.npy", "2-D"))
    nan = clip_like(40, 6)
    nan[[7, 30], 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    cases["nan"] = (tmp_path / "nan.npy", ("nan.npy", "rows 7, 30"))
    zero = clip_like(40, 6)
    zero[11] = 0
    np.save(tmp_path / "zero.npy", zero)
    cases["zero"] = (tmp_path / "zero.npy", ("zero.npy", "row(s) 11 have zero norm"))
    np.save(tmp_path / "one.npy", clip_like(1, 6))
    cases["one row"] = (tmp_path / "one.npy", ("one.npy", "at least 2 row"))
    obj = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "pickled.npy", obj, allow_pickle=True)
    cases["pickle"] = (tmp_path / "pickled.npy", ("pickled.npy",))
    cases["missing"] = (tmp_path / "missing.npy", ("missing.npy", "not found"))
    return cases


def test_conformity_bad_inputs_exit_2_without_output(tmp_path: Path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    out_dir = tmp_path / "out"
    for label, (path, fragments) in _bad_inputs(inputs).items():
        result = run("conformity", "-e", path, "-o", out_dir / "scores.csv", "--summary",
                     out_dir / "summary.json")
        assert_user_error(result, *fragments)
        assert not out_dir.exists() or only_files(out_dir) == [], label


def test_conformity_bad_reference_leaves_old_output_untouched(tmp_path: Path, emb):
    path, _ = emb
    out = tmp_path / "scores.csv"
    out.write_text("old\n")
    small = ModalityMean.from_embeddings(clip_like(10, 8), encoder="e", modality="image")
    small.save(tmp_path / "d8.safetensors")
    assert_user_error(run("conformity", "-e", path, "-o", out, "--reference",
                      tmp_path / "d8.safetensors"), "d8.safetensors", "D=8", "D=16")
    raw_only = ModalityMean(mean=np.ones(16), encoder="e", modality="image")
    raw_only.save(tmp_path / "raw.safetensors")
    assert_user_error(run("conformity", "-e", path, "-o", out, "--reference",
                      tmp_path / "raw.safetensors"), "only estimated conformity")
    assert_user_error(run("conformity", "-e", path, "-o", out, "--summary", out), "same file")
    assert_user_error(run("conformity", "-e", path, "-o", tmp_path), "directory")
    assert out.read_text() == "old\n"
    assert only_files(tmp_path) == ["X.npy", "d8.safetensors", "raw.safetensors", "scores.csv"]


def test_installed_console_script(tmp_path: Path, emb):
    path, X = emb
    exe = Path(sys.executable).with_name("vslerp")
    out = tmp_path / "scores.csv"
    ok = subprocess.run([str(exe), "conformity", "--embeddings", str(path), "-o", str(out)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    _, rows = read_csv(out)
    np.testing.assert_allclose([float(r[1]) for r in rows], gram_conformity(X), atol=1e-6)
    bad = subprocess.run([str(exe), "conformity", "--embeddings", str(tmp_path / "no.npy"),
                          "-o", str(tmp_path / "s2.csv")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "no.npy" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "s2.csv").exists()
