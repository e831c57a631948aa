"""Tests of vslerp.ranking against independent oracles.

Conformity is checked against its definition (mean cosine to the reference members, written
with an explicit cosine matrix), statistics against numpy, W1 / KS against hand-written
empirical-CDF formulas and scipy, and KL against a hand-written smoothed histogram KL.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vslerp.errors import InputError
from vslerp.jobs import EmbeddedSource
from vslerp.ranking import QUANTILES, Ranking, rank_scores, rank_sources, score_sources


def make_source(name: str, X: np.ndarray, *, modality: str = "image",
                encoder_id: str | None = "enc", failed: list[tuple[str, str]] | None = None,
                paths: bool = False) -> EmbeddedSource:
    n = X.shape[0]
    ids = [f"{name}-{i}" for i in range(n)]
    return EmbeddedSource(
        name=name, modality=modality, ids=ids, labels=[f"label {name} {i}" for i in range(n)],
        paths=[Path(f"/data/{name}/{i}.png") for i in range(n)] if paths else None,
        embeddings=np.asarray(X, dtype=np.float32), failed=failed or [], encoder_id=encoder_id,
    )


def shell(rng: np.random.Generator, n: int, d: int, centre: np.ndarray, spread: float
          ) -> np.ndarray:
    """Points around an offset centre, like one CLIP modality (a shell far from the origin)."""
    return (centre + spread * rng.standard_normal((n, d))).astype(np.float32)


def unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def naive_in_set(X: np.ndarray) -> np.ndarray:
    cos = unit(X) @ unit(X).T
    n = len(X)
    return (cos.sum(axis=1) - np.diag(cos)) / (n - 1)


def naive_against(Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    return (unit(Y) @ unit(X).T).mean(axis=1)


def ecdf_ks(p: np.ndarray, q: np.ndarray) -> float:
    points = np.concatenate([p, q])
    return max(abs(np.mean(p <= t) - np.mean(q <= t)) for t in points)


def smoothed_kl(p: np.ndarray, q: np.ndarray, edges: np.ndarray, s: float) -> float:
    bins = len(edges) - 1
    pc = [0.0] * bins
    qc = [0.0] * bins
    for values, counts in ((p, pc), (q, qc)):
        for v in values:
            i = min(int((v - edges[0]) / (edges[-1] - edges[0]) * bins), bins - 1)
            counts[i] += 1
    total_p, total_q = len(p) + bins * s, len(q) + bins * s
    return sum((a + s) / total_p * math.log(((a + s) / total_p) / ((b + s) / total_q))
               for a, b in zip(pc, qc, strict=True))


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(7)
    d = 24
    centre = rng.standard_normal(d) * 1.2
    ref = shell(rng, 80, d, centre, 1.0)
    same = shell(rng, 70, d, centre, 1.0)
    # collapsed onto a few generic outputs: 5 typical points (close to the centre), each
    # repeated 12 times with tiny jitter
    modes = shell(rng, 5, d, centre, 0.4)
    collapsed = (np.repeat(modes, 12, axis=0) + 0.02 * rng.standard_normal((60, d))).astype(
        np.float32)
    wide = shell(rng, 50, d, centre, 2.5)
    sources = [make_source("same", same), make_source("collapsed", collapsed),
               make_source("wide", wide)]
    ranking = rank_sources(make_source("real", ref), sources, bins=20, smoothing=0.5,
                           examples=3)
    return {"ref": ref, "same": same, "collapsed": collapsed, "wide": wide,
            "ranking": ranking}


def test_exact_conformity_matches_the_pairwise_definition(setting):
    r: Ranking = setting["ranking"]
    np.testing.assert_allclose(r.reference.conformity, naive_in_set(setting["ref"]), atol=1e-6)
    for name in ("same", "collapsed", "wide"):
        np.testing.assert_allclose(r[name].conformity,
                                   naive_against(setting[name], setting["ref"]), atol=1e-6)


def test_estimated_conformity_uses_a_least_squares_fit_on_the_reference(setting):
    r: Ranking = setting["ranking"]
    ref = setting["ref"].astype(np.float64)
    m = ref.mean(axis=0)
    cos_ref = unit(ref) @ (m / np.linalg.norm(m))
    a, b = np.polyfit(cos_ref, naive_in_set(ref), 1)
    assert r.fit is not None
    assert r.fit.a == pytest.approx(a, rel=1e-5)
    assert r.fit.b == pytest.approx(b, abs=1e-6)
    assert r.fit.pearson == pytest.approx(np.corrcoef(cos_ref, naive_in_set(ref))[0, 1],
                                          abs=1e-6)
    wide = setting["wide"]
    expected = a * (unit(wide) @ (m / np.linalg.norm(m))) + b
    np.testing.assert_allclose(r["wide"].estimated, expected, atol=1e-5)


def test_statistics_match_numpy(setting):
    for row in setting["ranking"].rows:
        c = row.conformity
        assert row.n == c.size
        assert row.mean == pytest.approx(float(np.mean(c)))
        assert row.median == pytest.approx(float(np.median(c)))
        assert row.std == pytest.approx(float(np.std(c, ddof=0)))
        for q in QUANTILES:
            assert row.quantiles[f"q{round(q * 100):02d}"] == pytest.approx(
                float(np.quantile(c, q)))


def test_distances_match_independent_oracles(setting):
    r: Ranking = setting["ranking"]
    ref_c = r.reference.conformity
    edges = r.bin_edges
    pooled = np.concatenate([row.conformity for row in r.rows])
    assert edges[0] == pytest.approx(pooled.min()) and edges[-1] == pytest.approx(pooled.max())
    assert len(edges) == 21
    for row in r.sources:
        c = row.conformity
        assert row.w1 == pytest.approx(stats.wasserstein_distance(c, ref_c), rel=1e-9)
        assert row.ks == pytest.approx(ecdf_ks(c, ref_c), abs=1e-12)
        assert row.ks_pvalue == pytest.approx(stats.ks_2samp(c, ref_c).pvalue, rel=1e-9)
        assert row.kl == pytest.approx(smoothed_kl(c, ref_c, edges, 0.5), rel=1e-9)
    ref_row = r.reference
    assert (ref_row.kl, ref_row.w1, ref_row.ks, ref_row.rank) == (0.0, 0.0, 0.0, 0)


def test_w1_for_equal_sizes_is_the_mean_gap_between_sorted_samples():
    rng = np.random.default_rng(3)
    d = 16
    centre = rng.standard_normal(d)
    ref = shell(rng, 40, d, centre, 1.0)
    other = shell(rng, 40, d, centre, 1.6)
    r = rank_sources(make_source("ref", ref), [make_source("other", other)])
    expected = np.mean(np.abs(np.sort(r["other"].conformity) - np.sort(r.reference.conformity)))
    assert r["other"].w1 == pytest.approx(expected, rel=1e-9)


def test_histogram_counts_cover_every_sample(setting):
    r: Ranking = setting["ranking"]
    for row in r.rows:
        assert row.counts.sum() == row.n
        expected = np.histogram(row.conformity, bins=r.bin_edges)[0]
        np.testing.assert_array_equal(row.counts, expected)


def test_known_sources_rank_as_expected(setting):
    r: Ranking = setting["ranking"]
    assert r["same"].rank == 1  # drawn from the reference distribution: closest
    assert {r["collapsed"].rank, r["wide"].rank} == {2, 3}
    # near-duplicates of typical points conform more than the reference; a wider cloud less
    assert r["collapsed"].mean > r.reference.mean > r["wide"].mean
    assert r["wide"].rank_by_mean == 1
    assert r["collapsed"].rank_by_mean == 4
    assert [row.name for row in r.ranked()][:2] == ["real", "same"]
    assert sorted(row.rank_by_mean for row in r.rows) == [1, 2, 3, 4]


def test_ranking_breaks_w1_ties_by_ks_then_input_order():
    rng = np.random.default_rng(5)
    d = 8
    centre = rng.standard_normal(d) * 2
    ref = shell(rng, 30, d, centre, 1.0)
    twin = shell(rng, 30, d, centre, 1.3)
    r = rank_sources(make_source("ref", ref),
                     [make_source("b", twin), make_source("a", twin.copy())])
    assert r["b"].w1 == r["a"].w1 and r["b"].ks == r["a"].ks
    assert (r["b"].rank, r["a"].rank) == (1, 2)


def test_examples_are_the_extremes_with_their_labels(setting):
    r: Ranking = setting["ranking"]
    row = r["wide"]
    order = np.argsort(row.conformity, kind="stable")
    assert [e.id for e in row.least_conforming] == [row.ids[i] for i in order[:3]]
    assert [e.id for e in row.most_conforming] == [row.ids[i] for i in order[::-1][:3]]
    for e in row.least_conforming + row.most_conforming:
        i = row.ids.index(e.id)
        assert e.label == row.labels[i]
        assert e.conformity == row.conformity[i]
        assert e.estimated == pytest.approx(row.estimated[i])


def test_examples_keep_paths_and_clip_k_to_n():
    rng = np.random.default_rng(1)
    ref = shell(rng, 10, 6, np.ones(6) * 2, 1.0)
    src = make_source("gen", shell(rng, 2, 6, np.ones(6) * 2, 1.0), paths=True)
    r = rank_sources(make_source("ref", ref), [src], examples=5)
    assert len(r["gen"].most_conforming) == 2 and len(r["gen"].least_conforming) == 2
    assert {e.path for e in r["gen"].most_conforming} == {Path("/data/gen/0.png"),
                                                          Path("/data/gen/1.png")}
    none = rank_sources(make_source("ref", ref), [src], examples=0)
    assert none["gen"].most_conforming == ()


def test_failed_items_are_counted_and_kept(setting):
    rng = np.random.default_rng(2)
    ref = shell(rng, 10, 6, np.ones(6) * 2, 1.0)
    src = make_source("gen", shell(rng, 4, 6, np.ones(6) * 2, 1.0),
                      failed=[("x.png", "truncated PNG file"), ("y.jpg", "not an image")])
    r = rank_sources(make_source("ref", ref), [src])
    assert r["gen"].n == 4 and r["gen"].n_failed == 2
    data = r.to_dict()
    assert data["failed"]["gen"] == [{"id": "x.png", "reason": "truncated PNG file"},
                                     {"id": "y.jpg", "reason": "not an image"}]


def test_to_dict_is_strict_json_with_the_documented_fields(setting):
    data = setting["ranking"].to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["encoder"] == {"id": "enc", "dim": 24}
    assert back["reference"]["name"] == "real"
    fields = {"name", "n", "failed", "mean_conformity", "median_conformity", "std_conformity",
              "kl", "w1", "ks", "rank", "rank_by_mean"}
    assert back["sources"][0]["name"] == "real"
    for row in back["sources"]:
        assert fields <= set(row)
    assert [s["rank"] for s in back["sources"]] == [0, 1, 2, 3]


def test_constant_reference_has_no_fit_but_still_ranks():
    ref = np.tile(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), (5, 1))
    rng = np.random.default_rng(0)
    other = (ref[:3] + rng.standard_normal((3, 3))).astype(np.float32)
    r = rank_sources(make_source("ref", ref), [make_source("other", other)])
    assert r.fit is None
    assert np.isnan(r["other"].estimated).all()
    np.testing.assert_allclose(r.reference.conformity, 1.0, atol=1e-6)
    assert r["other"].w1 > 0
    json.dumps(r.to_dict(), allow_nan=False)


def test_unknown_encoder_ids_are_accepted_and_the_known_one_reported():
    rng = np.random.default_rng(0)
    ref = make_source("ref", shell(rng, 6, 4, np.ones(4), 1.0), encoder_id=None,
                      modality="embeddings")
    src = make_source("gen", shell(rng, 6, 4, np.ones(4), 1.0), encoder_id="tiny")
    assert rank_sources(ref, [src]).encoder_id == "tiny"


@pytest.mark.parametrize("change, message", [
    ({"X": "dim"}, "dimension D=5"),
    ({"encoder_id": "other"}, "encoder 'other'"),
    ({"modality": "text"}, "holds texts"),
    ({"name": "ref"}, "duplicate name"),
    ({"X": "empty", "failed": [("a.png", "not an image")]}, "every item failed"),
])
def test_incompatible_sources_are_rejected(change, message):
    rng = np.random.default_rng(0)
    ref = make_source("ref", shell(rng, 6, 4, np.ones(4), 1.0))
    X = shell(rng, 6, 4, np.ones(4), 1.0)
    if change.get("X") == "dim":
        X = shell(rng, 6, 5, np.ones(5), 1.0)
    elif change.get("X") == "empty":
        X = np.zeros((0, 4), dtype=np.float32)
    kwargs = {k: v for k, v in change.items() if k in ("encoder_id", "modality", "failed")}
    src = make_source(change.get("name", "gen"), X, **kwargs)
    with pytest.raises(InputError, match=message) as info:
        rank_sources(ref, [src])
    assert info.value.argument == "sources[0]"


def test_bad_arguments_are_rejected():
    rng = np.random.default_rng(0)
    ref = make_source("ref", shell(rng, 6, 4, np.ones(4), 1.0))
    src = make_source("gen", shell(rng, 6, 4, np.ones(4), 1.0))
    with pytest.raises(InputError, match="at least one source"):
        rank_sources(ref, [])
    with pytest.raises(InputError) as info:
        rank_sources(make_source("ref", shell(rng, 1, 4, np.ones(4), 1.0)), [src])
    assert info.value.argument == "reference"
    for kwargs, argument in (({"bins": 0}, "bins"), ({"smoothing": 0.0}, "smoothing"),
                             ({"examples": -1}, "examples"), ({"bins": 2.5}, "bins")):
        with pytest.raises(InputError) as info:
            rank_sources(ref, [src], **kwargs)
        assert info.value.argument == argument
    bad = make_source("gen", shell(rng, 6, 4, np.ones(4), 1.0))
    bad.ids = bad.ids[:-1]
    with pytest.raises(InputError, match="5 ids for 6 embeddings"):
        rank_sources(ref, [bad])
    zero_row = make_source("gen", np.vstack([shell(rng, 3, 4, np.ones(4), 1.0),
                                             np.zeros((1, 4), np.float32)]))
    with pytest.raises(InputError):
        rank_sources(ref, [zero_row])


def test_a_hundred_thousand_samples_per_source_is_not_quadratic():
    rng = np.random.default_rng(0)
    d = 16
    centre = rng.standard_normal(d)
    n = 100_000
    ref = make_source("ref", shell(rng, n, d, centre, 1.0))
    src = make_source("gen", shell(rng, n, d, centre, 1.2))
    r = rank_sources(ref, [src])  # an O(N²) step would need 10¹⁰ operations here
    assert r["gen"].n == n and r["gen"].counts.sum() == n


def test_scoring_and_ranking_steps_compose_to_rank_sources(setting):
    ref = make_source("real", setting["ref"])
    sources = [make_source("wide", setting["wide"]), make_source("same", setting["same"])]
    scores = score_sources(ref, sources)
    assert [row.name for row in scores.rows] == ["real", "wide", "same"]
    np.testing.assert_allclose(scores.rows[1].conformity,
                               naive_against(setting["wide"], setting["ref"]), atol=1e-6)
    stepwise = rank_scores(scores, bins=20, examples=3)
    direct = rank_sources(ref, sources, bins=20, examples=3)
    assert stepwise.to_dict() == direct.to_dict()
    with pytest.raises(InputError) as info:
        rank_scores(direct)  # type: ignore[arg-type]
    assert info.value.argument == "scores"
