"""``vslerp.workflow``: paths → validated sources → embeddings → ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vslerp.errors import InputError
from vslerp.jobs import embed_source
from vslerp.ranking import rank_sources
from vslerp.sources import open_source
from vslerp.workflow import embed_sources, open_sources, rank_paths


def _embeddings(folder: Path, name: str, n: int, shift: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    centre = np.linspace(1.0, 2.0, 16)
    X = (centre + shift * rng.standard_normal((n, 16))).astype(np.float32)
    path = folder / f"{name}.npy"
    np.save(path, X)
    return path


@pytest.fixture
def sets(tmp_path: Path) -> dict[str, Path]:
    return {"real": _embeddings(tmp_path, "real", 60, 0.5, 0),
            "close": _embeddings(tmp_path, "close", 40, 0.55, 1),
            "far": _embeddings(tmp_path, "far", 40, 2.0, 2)}


def test_rank_paths_equals_the_steps_it_stands_for(sets, tmp_path):
    # The encoder spec is never loaded: embedding files pass through.
    ranking = rank_paths(f"real={sets['real']}", [f"far={sets['far']}", str(sets["close"])],
                         encoder="hf:not/a-model", work_dir=tmp_path / "work", progress=False)
    manual = rank_sources(
        *[embed_source(open_source(sets[k], name=k), None, work_dir=None, progress=False)
          for k in ("real",)],
        [embed_source(open_source(sets[k], name=k), None, work_dir=None, progress=False)
         for k in ("far", "close")])
    assert [r.name for r in ranking.rows] == ["real", "far", "close"]
    for got, want in zip(ranking.rows, manual.rows, strict=True):
        np.testing.assert_array_equal(got.conformity, want.conformity)
        assert (got.rank, got.w1, got.kl) == (want.rank, want.w1, want.kl)
    ranks = {r.name: r.rank for r in ranking.rows if not r.is_reference}
    assert ranks["close"] < ranks["far"]  # the set drawn like the reference ranks first


def test_rank_paths_refuses_bad_input_before_any_work(sets, tmp_path):
    work = tmp_path / "work"
    cases = [
        ((f"real={sets['real']}", []), "--source", "at least one"),
        ((f"real={sets['real']}", [f"real={sets['far']}"]), "--source", "duplicate"),
        ((f"real={sets['real']}", [str(tmp_path / "missing.npy")]), "--source", "missing.npy"),
    ]
    for (reference, sources), argument, needle in cases:
        with pytest.raises(InputError, match=needle) as info:
            rank_paths(reference, sources, work_dir=work, progress=False)
        assert info.value.argument == argument
    assert not work.exists()


def test_a_mix_of_images_and_captions_is_refused(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / "a.png")
    captions = tmp_path / "captions.txt"
    captions.write_text("a cat\na dog\n")
    with pytest.raises(InputError, match="separate shells") as info:
        rank_paths(str(folder), [str(captions)], encoder="tiny", work_dir=tmp_path / "w",
                   progress=False)
    assert info.value.argument == "--source"


def test_embed_sources_refuses_a_text_only_encoder_for_images_before_loading(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / "a.png")
    (source,) = open_sources([("--images", None, folder)])
    with pytest.raises(Exception, match="cannot embed images"):
        embed_sources([source], encoder="st:no-such-model-anywhere", work_dir=tmp_path / "w")
