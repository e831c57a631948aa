"""Tests of vslerp.geometry against answers known in closed form.

Most fixtures are built with :func:`exact_sample`, which returns points whose *sample* mean and
covariance (ddof=1) are exactly the chosen ones, so moment-based results (spectra, offsets,
dominance ratios, Fisher ratios) can be compared with their formulas to round-off.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from vslerp import geometry as geo
from vslerp.errors import InputError


def exact_sample(rng: np.random.Generator, n: int, mean: np.ndarray, cov: np.ndarray
                 ) -> np.ndarray:
    """``n`` rows with sample mean exactly ``mean`` and sample covariance exactly ``cov``."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    sample_cov = z.T @ z / (n - 1)
    z = z @ np.linalg.inv(np.linalg.cholesky(sample_cov)).T  # sample covariance is now I
    return z @ np.linalg.cholesky(cov).T + mean


def equicorrelated(d: int, rho: float) -> np.ndarray:
    return (1 - rho) * np.eye(d) + rho * np.ones((d, d))


def brute_force_infonce(images, texts, alpha, scale):
    """Per-pair symmetric InfoNCE loss and top-1 correctness, written out with loops."""
    a = images - alpha * images.mean(axis=0)
    b = texts - alpha * texts.mean(axis=0)
    n = len(a)
    cos = [[float(a[i] @ b[j] / (np.linalg.norm(a[i]) * np.linalg.norm(b[j])))
            for j in range(n)] for i in range(n)]
    logits = [[scale * c for c in row] for row in cos]
    losses, correct = [], []
    for k in range(n):
        row = logits[k]
        col = [logits[j][k] for j in range(n)]
        lse_row = math.log(sum(math.exp(v) for v in row))
        lse_col = math.log(sum(math.exp(v) for v in col))
        losses.append(0.5 * ((lse_row - logits[k][k]) + (lse_col - logits[k][k])))
        correct.append(max(range(n), key=row.__getitem__) == k
                       and max(range(n), key=col.__getitem__) == k)
    return np.array(losses), np.array(correct)


# --------------------------------------------------------------------------- single modality


def test_mean_offset_and_spectrum_of_a_diagonal_gaussian():
    rng = np.random.default_rng(0)
    sigma2 = np.array([9.0, 4.0, 4.0, 1.0, 0.25, 0.25, 0.04, 0.01])
    mu = np.array([3.0, -1.0, 0.0, 2.0, 0.5, 0.0, -4.0, 1.0])
    x = exact_sample(rng, 400, mu, np.diag(sigma2))

    offset = geo.mean_offset(x)
    assert offset.mean_norm == pytest.approx(np.sqrt(np.sum(mu**2)), rel=1e-10)
    assert offset.sigma_norm == pytest.approx(np.sqrt(np.sum(sigma2)), rel=1e-10)
    assert offset.ratio == pytest.approx(np.sqrt(np.sum(mu**2) / np.sum(sigma2)), rel=1e-10)

    spec = geo.variance_spectrum(x)
    expected = np.sort(sigma2)[::-1]
    np.testing.assert_allclose(spec.feature_variances, expected, rtol=1e-10)
    np.testing.assert_allclose(spec.eigenvalues, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(spec.explained_variance, np.cumsum(expected) / expected.sum(),
                               rtol=1e-10)
    assert spec.participation_ratio == pytest.approx(sigma2.sum() ** 2 / np.sum(sigma2**2))
    # 9 + 4 + 4 = 17 of 18.55 is 91.6 %, 9 + 4 is only 70 %
    assert spec.n_components_90 == 3


def test_spectrum_and_dominance_of_an_equicorrelated_covariance():
    rng = np.random.default_rng(1)
    d, rho = 8, 0.3
    x = exact_sample(rng, 300, np.full(d, 5.0), equicorrelated(d, rho))

    spec = geo.variance_spectrum(x)
    # eigenvalues of (1-ρ)I + ρ11ᵀ: 1 + (d-1)ρ once, 1 - ρ (d-1) times
    np.testing.assert_allclose(spec.eigenvalues, [1 + (d - 1) * rho] + [1 - rho] * (d - 1),
                               rtol=1e-9)
    np.testing.assert_allclose(spec.feature_variances, np.ones(d), rtol=1e-10)

    dom = geo.off_diagonal_dominance(x)
    np.testing.assert_allclose(dom.row_ratios, np.full(d, (d - 1) * rho), rtol=1e-9)
    assert dom.fraction_dominant == 1.0  # (d-1)ρ = 2.1 > 1 on every row
    assert dom.median_ratio == pytest.approx((d - 1) * rho)
    assert dom.total_ratio == pytest.approx((d - 1) * rho)


@pytest.mark.parametrize("cov_kind", ["diagonal", "weakly_correlated"])
def test_dominance_is_zero_or_below_one_without_strong_correlation(cov_kind):
    rng = np.random.default_rng(2)
    d = 8
    cov = np.diag(np.linspace(1, 3, d)) if cov_kind == "diagonal" else equicorrelated(d, 0.1)
    dom = geo.off_diagonal_dominance(exact_sample(rng, 200, np.zeros(d), cov))
    expected = 0.0 if cov_kind == "diagonal" else (d - 1) * 0.1  # 0.7 < 1
    np.testing.assert_allclose(dom.row_ratios, np.full(d, expected), atol=1e-9)
    assert dom.fraction_dominant == 0.0


def test_thin_shell_of_an_isotropic_gaussian_matches_the_chi_distribution():
    rng = np.random.default_rng(3)
    d, n, sigma = 400, 1500, 0.5
    mu = rng.normal(size=d)
    x = mu + sigma * rng.standard_normal((n, d))
    shell = geo.thin_shell(x)

    # Eq. 3 with the population moments: E‖v‖² = Σ μ_k² + d σ²
    assert shell.radius_predicted == pytest.approx(math.sqrt(mu @ mu + d * sigma**2), rel=0.01)
    assert shell.radius_relative_error < 0.005
    assert shell.raw_norm_mean == pytest.approx(shell.radius_predicted, rel=0.005)
    # ‖v − m‖ / σ follows a chi distribution with d degrees of freedom
    chi = stats.chi(d)
    assert shell.mu_norm == pytest.approx(sigma * chi.mean(), rel=0.01)
    assert shell.var_norm == pytest.approx(sigma**2 * chi.var(), rel=0.15)
    assert shell.centered_radius_predicted == pytest.approx(sigma * math.sqrt(d), rel=0.01)
    assert shell.thin_shell_ratio == pytest.approx(chi.var() / chi.mean() ** 2, rel=0.2)
    assert shell.thin_shell_ratio < 0.01
    assert shell.raw_norms.counts.sum() == n and shell.centered_norms.counts.sum() == n
    assert shell.centered_norms.edges[0] == pytest.approx(np.linalg.norm(x - x.mean(0),
                                                                         axis=1).min())


def test_thin_shell_ratio_is_large_for_a_scale_mixture():
    rng = np.random.default_rng(4)
    d, n = 400, 1500
    radii = rng.uniform(0.2, 2.0, size=(n, 1))  # no common radius: not a thin shell
    shell = geo.thin_shell(radii * rng.standard_normal((n, d)))
    # ‖v‖ ≈ r·sqrt(d) with r ~ U(0.2, 2): var/mean² ≈ var(r)/E[r]² = (1.8²/12)/1.1² ≈ 0.22
    assert shell.thin_shell_ratio == pytest.approx((1.8**2 / 12) / 1.1**2, rel=0.15)


# --------------------------------------------------------------------------- separability


def test_fisher_ratio_matches_the_designed_moments():
    rng = np.random.default_rng(5)
    mu_i, mu_t = np.array([0.0, 1.0, 2.0, 0.0]), np.array([0.0, 0.0, -2.0, 3.0])
    var_i, var_t = np.array([1.0, 2.0, 1.0, 0.5]), np.array([1.0, 1.0, 3.0, 0.5])
    img = exact_sample(rng, 120, mu_i, np.diag(var_i))
    txt = exact_sample(rng, 80, mu_t, np.diag(var_t))
    sep = geo.feature_separability(img, txt, top_k=3)
    fisher = (mu_i - mu_t) ** 2 / (var_i + var_t)  # [0, 1/3, 4, 9]
    np.testing.assert_allclose(sep.fisher, fisher, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sep.mean_difference, mu_i - mu_t, atol=1e-10)
    assert sep.ranking.tolist() == [3, 2, 1, 0]
    assert sep.top_features == (3, 2, 1)
    assert sep.pair == (3, 2)


def test_one_separating_feature_ranks_first_and_two_features_classify_perfectly():
    rng = np.random.default_rng(6)
    d, n = 12, 400
    img = rng.standard_normal((n, d))
    txt = rng.standard_normal((n, d))
    txt[:, 7] += 12.0  # 12σ apart: no overlap for any realistic sample
    sep = geo.feature_separability(img, txt)
    assert sep.ranking[0] == 7 and sep.pair[0] == 7
    assert sep.stump_accuracy[7] == 1.0
    assert sep.n_perfect_features == 1
    assert sep.pair_train_accuracy == 1.0
    assert sep.pair_heldout_accuracy >= 0.99
    assert sep.n_folds == 5
    img_hist, txt_hist = sep.pair_histograms[0]
    assert img_hist.counts.sum() == n and txt_hist.counts.sum() == n
    np.testing.assert_array_equal(img_hist.edges, txt_hist.edges)


def test_identical_clouds_are_not_separable():
    rng = np.random.default_rng(7)
    img = rng.standard_normal((1000, 10)) + 3.0
    txt = rng.standard_normal((1000, 10)) + 3.0
    sep = geo.feature_separability(img, txt)
    assert abs(sep.pair_heldout_accuracy - 0.5) < 0.05
    assert sep.n_perfect_features == 0
    assert np.all(sep.stump_accuracy < 0.6)


def test_two_feature_lda_reaches_the_bayes_accuracy_of_correlated_classes():
    """Classes N(±Δ/2, Σ) with equal priors: the best linear rule has accuracy Φ(d/2),
    d² = Δᵀ Σ⁻¹ Δ. Neither feature alone gets near it."""
    rng = np.random.default_rng(8)
    n, rho, delta = 2000, 0.9, 0.6
    cov = np.array([[1.0, rho], [rho, 1.0]])
    shift = np.array([delta, -delta])
    noise_dims = 2
    img = np.hstack([rng.multivariate_normal(shift / 2, cov, n),
                     rng.standard_normal((n, noise_dims))])
    txt = np.hstack([rng.multivariate_normal(-shift / 2, cov, n),
                     rng.standard_normal((n, noise_dims))])
    sep = geo.feature_separability(img, txt)
    bayes = stats.norm.cdf(math.sqrt(shift @ np.linalg.solve(cov, shift)) / 2)  # ≈ 0.910
    single = stats.norm.cdf(delta / 2)  # best one-feature rule ≈ 0.618
    assert set(sep.pair) == {0, 1}
    assert sep.pair_heldout_accuracy == pytest.approx(bayes, abs=0.02)
    assert sep.pair_train_accuracy == pytest.approx(bayes, abs=0.02)
    assert sep.stump_accuracy[0] == pytest.approx(single, abs=0.03)


@pytest.mark.parametrize(("img_values", "txt_values", "expected"), [
    ([0.0, 2.0], [1.0, 3.0], 0.75),  # best cut x < 0.5: one image right, both texts right
    ([1.0, 2.0], [2.0, 3.0], 0.75),  # the tie at 2 cannot be split
    ([1.0, 1.0], [1.0, 1.0], 0.5),   # nothing to split
    ([5.0, 6.0, 7.0], [0.0, 1.0], 1.0),
])
def test_single_threshold_accuracy_by_hand(img_values, txt_values, expected):
    img = np.column_stack([img_values, np.zeros(len(img_values))])
    txt = np.column_stack([txt_values, np.zeros(len(txt_values))])
    sep = geo.feature_separability(img, txt)
    assert sep.stump_accuracy[0] == pytest.approx(expected)
    assert sep.stump_accuracy[1] == pytest.approx(0.5)


# --------------------------------------------------------------------------- modality gap


def test_modality_gap_of_known_unit_centroids():
    img = np.array([[2.0, 0, 0], [4.0, 0, 0]])  # unit centroid e1, raw mean 3e1
    txt = np.array([[0, 2.0, 0], [0, 0, 6.0]])  # unit centroid (0, .5, .5), raw mean (0, 1, 3)
    gap = geo.modality_gap(img, txt)
    assert gap.gap == pytest.approx(math.sqrt(1.5))
    assert gap.image_centroid_norm == pytest.approx(1.0)
    assert gap.text_centroid_norm == pytest.approx(math.sqrt(0.5))
    assert gap.centroid_cosine == pytest.approx(0.0)
    assert gap.raw_mean_distance == pytest.approx(math.sqrt(19.0))
    # the gap is a property of directions only
    assert geo.modality_gap(7.0 * img, 0.1 * txt).gap == pytest.approx(gap.gap)


def test_same_directions_have_no_gap():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(50, 6))
    assert geo.modality_gap(x, 3.0 * x).gap == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- conformity


def test_conformity_tracks_cosine_to_the_mean_on_a_shifted_ellipsoid():
    """Paper Fig. 7: on an ellipsoid shell away from the origin, conformity is linear in
    cos(m, v). Checked against the pairwise definition C(v_j) = mean_{k≠j} cos(v_j, v_k)."""
    rng = np.random.default_rng(10)
    d, n = 64, 400
    scales = np.linspace(0.5, 2.0, d)
    mu = 1.5 * rng.normal(size=d)
    x = mu + rng.standard_normal((n, d)) * scales
    res = geo.conformity_analysis(x)
    assert res.pearson > 0.99
    assert res.a > 0

    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = unit @ unit.T
    pairwise = (cos.sum(axis=1) - 1.0) / (n - 1)
    np.testing.assert_allclose(res.conformity, pairwise, atol=1e-10)
    m = x.mean(axis=0)
    np.testing.assert_allclose(res.cos_to_mean, unit @ (m / np.linalg.norm(m)), atol=1e-10)
    fitted = np.polyfit(res.cos_to_mean, pairwise, 1)
    assert (res.a, res.b) == pytest.approx(tuple(fitted), abs=1e-8)
    assert res.pearson == pytest.approx(np.corrcoef(res.cos_to_mean, pairwise)[0, 1], abs=1e-10)
    assert res.histogram.counts.sum() == n


def test_conformity_scatter_is_subsampled_but_statistics_use_all_points():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(300, 8)) + 2.0
    small = geo.conformity_analysis(x, max_points=50)
    full = geo.conformity_analysis(x)
    assert small.conformity.shape == (50,) and small.cos_to_mean.shape == (50,)
    assert small.n == 300 and small.histogram.counts.sum() == 300
    assert (small.a, small.b, small.pearson) == (full.a, full.b, full.pearson)
    assert np.isin(small.conformity, full.conformity).all()


def test_a_mean_at_the_origin_leaves_the_fit_undefined_instead_of_failing():
    rng = np.random.default_rng(18)
    half = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], size=(20, 5))
    x = np.vstack([half, -half])  # integer sums: the mean is exactly 0
    res = geo.conformity_analysis(x)
    assert math.isnan(res.a) and math.isnan(res.pearson) and np.isnan(res.cos_to_mean).all()
    assert res.histogram.counts.sum() == 40
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert out["a"] is None and out["cos_to_mean"][0] is None
    assert geo.mean_offset(x).ratio == 0.0


# --------------------------------------------------------------------------- contrastive loss


def test_contrastive_loss_of_two_orthogonal_pairs_by_hand():
    """Images = texts = {e1, e2}. At α = 0 the cosine matrix is I, so each softmax row is
    (e^s, 1)/(e^s + 1) and ℓ = log(1 + e^{-s}). At α = 1 both sets are shifted by their mean
    (½, ½): the points become ±(½, −½), the cosine matrix is [[1, −1], [−1, 1]] and
    ℓ = log(1 + e^{-2s})."""
    x = np.eye(2)
    s = 2.0
    res = geo.contrastive_loss_vs_shift(x, x, alphas=[0.0, 1.0], logit_scale=s)
    np.testing.assert_allclose(res.loss, [math.log1p(math.exp(-s)), math.log1p(math.exp(-2 * s))],
                               rtol=1e-12)
    assert res.n_correct == 2 and res.n_misclassified == 0
    np.testing.assert_allclose(res.loss_correct, res.loss)
    assert res.loss_misclassified is None
    np.testing.assert_array_equal(res.accuracy, [1.0, 1.0])


def test_tiny_losses_keep_their_relative_precision():
    """Same fixture at CLIP's scale s = 100 and α = 1: ℓ = log(1 + e^{-200}) ≈ 1.4e-87, far
    below the round-off of a log-sum-exp minus the positive logit."""
    res = geo.contrastive_loss_vs_shift(np.eye(2), np.eye(2), alphas=[1.0])
    assert res.loss[0] == pytest.approx(math.log1p(math.exp(-200.0)), rel=1e-9)


def test_swapped_captions_are_misclassified_by_hand():
    """Captions swapped: every logit row is (1, e^s) with the pair on the small entry, so
    ℓ = log(1 + e^{s}) and no pair is correct."""
    s = 3.0
    res = geo.contrastive_loss_vs_shift(np.eye(2), np.eye(2)[::-1], alphas=[0.0],
                                        logit_scale=s)
    assert res.loss[0] == pytest.approx(math.log1p(math.exp(s)))
    assert res.n_correct == 0 and res.loss_correct is None
    np.testing.assert_allclose(res.loss_misclassified, res.loss)


def test_contrastive_curves_match_a_brute_force_oracle():
    rng = np.random.default_rng(12)
    n, d, scale = 7, 3, 10.0
    images = rng.normal(size=(n, d)) + np.array([1.0, 0.0, 0.5])
    texts = images + 0.5 * rng.normal(size=(n, d)) - np.array([0.0, 1.0, 0.0])
    alphas = [-1.0, -0.5, 0.3, 1.0]
    res = geo.contrastive_loss_vs_shift(images, texts, alphas=alphas, logit_scale=scale)

    _, groups = brute_force_infonce(images, texts, 0.0, scale)
    assert 0 < groups.sum() < n  # the fixture has both kinds of pairs
    assert res.n_correct == groups.sum()
    for i, alpha in enumerate(alphas):
        losses, correct = brute_force_infonce(images, texts, alpha, scale)
        assert res.loss[i] == pytest.approx(losses.mean(), rel=1e-10)
        assert res.loss_correct[i] == pytest.approx(losses[groups].mean(), rel=1e-10)
        assert res.loss_misclassified[i] == pytest.approx(losses[~groups].mean(), rel=1e-10)
        assert res.accuracy[i] == pytest.approx(correct.mean())
    assert res.logit_scale == scale and res.n_pairs == n


def test_contrastive_loss_is_the_same_when_computed_in_row_blocks():
    """2100 pairs are processed in several row blocks; compare with the full logit matrix."""
    rng = np.random.default_rng(13)
    n, d = 2100, 4
    images = rng.normal(size=(n, d)) + 1.0
    texts = images + 0.3 * rng.normal(size=(n, d))
    res = geo.contrastive_loss_vs_shift(images, texts, alphas=[0.5])
    a = images - 0.5 * images.mean(0)
    b = texts - 0.5 * texts.mean(0)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    logits = geo.CLIP_LOGIT_SCALE * a @ b.T
    diag = np.diag(logits)
    from scipy.special import logsumexp

    per_pair = 0.5 * ((logsumexp(logits, axis=1) - diag) + (logsumexp(logits, axis=0) - diag))
    assert res.loss[0] == pytest.approx(per_pair.mean(), rel=1e-10)
    both = (logits.argmax(axis=1) == np.arange(n)) & (logits.argmax(axis=0) == np.arange(n))
    assert res.accuracy[0] == pytest.approx(both.mean())


# --------------------------------------------------------------------------- conformity KL


def test_histogram_kl_by_hand():
    """All of P in bin 0, all of Q in bin 1 (2 bins over [−1, 1], n samples each, pseudo-count
    s): p = ((n+s), s)/(n+2s), q = (s, (n+s))/(n+2s)."""
    n, s = 10, 0.5
    kl = geo.histogram_kl(np.full(n, -0.5), np.full(n, 0.5), bins=2, smoothing=s)
    hi, lo = (n + s) / (n + 2 * s), s / (n + 2 * s)
    assert kl == pytest.approx(hi * math.log(hi / lo) + lo * math.log(lo / hi))
    assert geo.histogram_kl([0.1, 0.2, -0.3], [0.2, 0.1, -0.3]) == 0.0
    # out-of-range values fall into the end bins
    assert geo.histogram_kl([-5.0], [-0.9], bins=2) == 0.0


def test_conformity_kl_is_zero_for_identical_sets_and_positive_otherwise():
    rng = np.random.default_rng(14)
    d, n = 16, 300
    x = rng.normal(size=(n, d)) + 2.0
    alphas = [-1.0, 0.0, 0.5, 1.0]
    same = geo.conformity_kl_vs_shift(x, x.copy(), alphas=alphas)
    np.testing.assert_array_equal(same.kl_image_text, np.zeros(4))
    np.testing.assert_array_equal(same.kl_text_image, np.zeros(4))

    # texts sit much farther from the origin: conformity near 1, unlike the images
    far = rng.normal(size=(n, d)) + 6.0
    diff = geo.conformity_kl_vs_shift(x, far, alphas=alphas)
    assert diff.kl_image_text[1] > 0.5 and diff.kl_text_image[1] > 0.5
    assert np.all(diff.kl_image_text >= 0)
    assert diff.best_alpha == alphas[int(np.argmin(diff.kl_image_text))]
    assert diff.image_counts.shape == (4, 100) and diff.text_counts.shape == (4, 100)
    assert np.all(diff.image_counts.sum(axis=1) == n)
    np.testing.assert_allclose(diff.bin_edges, np.linspace(-1, 1, 101))
    # the counts and the reported KL agree with histogram_kl
    assert diff.kl_image_text[2] == pytest.approx(geo.histogram_kl(
        np.repeat(diff.bin_edges[:-1] + 0.01, diff.image_counts[2]),
        np.repeat(diff.bin_edges[:-1] + 0.01, diff.text_counts[2])))


# --------------------------------------------------------------------------- analyze


def _paired_clouds(rng, n=60, d=10):
    images = rng.normal(size=(n, d)) + np.linspace(0, 2, d)
    texts = images + rng.normal(size=(n, d)) - np.linspace(2, 0, d)
    return images, texts


def test_analyze_runs_everything_and_serialises_without_nan():
    rng = np.random.default_rng(15)
    images, texts = _paired_clouds(rng)
    images[:, 3] = 1.0  # a constant image feature: some ratios are undefined
    texts[:, 3] = 1.0
    report = geo.analyze(images.astype(np.float32), texts, pairs=True, alphas=[-1, 0, 1])
    assert (report.n_images, report.n_texts, report.dim) == (60, 60, 10)
    assert report.contrastive is not None and report.contrastive.n_pairs == 60
    assert report.images.off_diagonal.row_ratios[3] != report.images.off_diagonal.row_ratios[3]
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["images"]["off_diagonal"]["row_ratios"][3] is None
    assert back["conformity_kl"]["alphas"] == [-1.0, 0.0, 1.0]
    assert len(back["images"]["spectrum"]["eigenvalues"]) == 10

    direct = geo.contrastive_loss_vs_shift(images.astype(np.float32), texts, alphas=[-1, 0, 1])
    np.testing.assert_allclose(report.contrastive.loss, direct.loss)
    assert report.separability.pair == geo.feature_separability(images, texts).pair
    assert report.images.thin_shell.mu_norm == pytest.approx(
        geo.thin_shell(images).mu_norm, rel=1e-6)


def test_analyze_without_pairs_and_with_index_pairs():
    rng = np.random.default_rng(16)
    images, texts = _paired_clouds(rng, n=40)
    assert geo.analyze(images, texts[:30]).contrastive is None

    index_pairs = np.array([[0, 5], [1, 6], [2, 7], [3, 8]])
    res = geo.analyze(images, texts, pairs=index_pairs, alphas=[0.0, 0.5])
    # the shift uses the means of the full sets, not of the paired rows
    direct = geo.contrastive_loss_vs_shift(
        images[:4], texts[5:9], alphas=[0.0, 0.5], image_mean=images.mean(0),
        text_mean=texts.mean(0))
    np.testing.assert_allclose(res.contrastive.loss, direct.loss)
    assert res.contrastive.n_pairs == 4


# --------------------------------------------------------------------------- bad inputs


GOOD = np.arange(40, dtype=np.float64).reshape(10, 4) % 7 + 1.0


@pytest.mark.parametrize(("call", "argument"), [
    (lambda: geo.feature_separability(GOOD, GOOD[:, :3]), "texts"),
    (lambda: geo.modality_gap(GOOD, np.ones((3, 5))), "texts"),
    (lambda: geo.thin_shell(GOOD[:1]), "x"),
    (lambda: geo.conformity_analysis(GOOD[:2]), "x"),
    (lambda: geo.mean_offset(np.where(GOOD == 3.0, np.nan, GOOD)), "x"),
    (lambda: geo.variance_spectrum(np.ones(5)), "x"),
    (lambda: geo.off_diagonal_dominance(np.array([["a", "b"], ["c", "d"]])), "x"),
    (lambda: geo.feature_separability(GOOD[:, :1], GOOD[:, :1]), "images"),
    (lambda: geo.contrastive_loss_vs_shift(GOOD, GOOD[:8]), "texts"),
    (lambda: geo.contrastive_loss_vs_shift(GOOD, GOOD, alphas=[0.0, np.nan]), "alphas"),
    (lambda: geo.contrastive_loss_vs_shift(GOOD, GOOD, alphas=[]), "alphas"),
    (lambda: geo.contrastive_loss_vs_shift(GOOD, GOOD, logit_scale=0.0), "logit_scale"),
    (lambda: geo.contrastive_loss_vs_shift(GOOD, GOOD, logit_scale=1e3), "logit_scale"),
    (lambda: geo.contrastive_loss_vs_shift(GOOD, GOOD, image_mean=np.ones(3)), "image_mean"),
    (lambda: geo.conformity_kl_vs_shift(GOOD, GOOD, smoothing=0.0), "smoothing"),
    (lambda: geo.conformity_kl_vs_shift(GOOD, GOOD, bins=0), "bins"),
    (lambda: geo.histogram_kl([0.1], [], bins=3), "q_values"),
    (lambda: geo.histogram_kl([0.1], [0.2], value_range=(1.0, -1.0)), "value_range"),
    (lambda: geo.analyze(GOOD, GOOD[:8], pairs=True), "pairs"),
    (lambda: geo.analyze(GOOD, GOOD, pairs=np.zeros((3, 3), dtype=int)), "pairs"),
    (lambda: geo.analyze(GOOD, GOOD, pairs=np.array([[0, 1], [2, 10]])), "pairs"),
    (lambda: geo.analyze(GOOD, GOOD, pairs=np.array([[0, 1]])), "pairs"),
    (lambda: geo.analyze(GOOD, GOOD, top_k=0), "top_k"),
    (lambda: geo.analyze(GOOD, GOOD, n_folds=1), "n_folds"),
    (lambda: geo.analyze(GOOD, GOOD, seed=1.5), "seed"),
])
def test_bad_inputs_name_the_argument(call, argument):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.argument == argument


def test_float32_and_float64_inputs_agree():
    rng = np.random.default_rng(17)
    images, texts = _paired_clouds(rng, n=30, d=6)
    a = geo.feature_separability(images.astype(np.float32), texts.astype(np.float32))
    b = geo.feature_separability(images.astype(np.float32).astype(np.float64),
                                 texts.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(a.fisher, b.fisher)
    assert a.fisher.dtype == np.float64
