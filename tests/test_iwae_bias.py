"""The log-likelihood estimators against the truth: a linear-Gaussian model, where
log p(x, w), log p(x) and log p(w|x) are closed form, scored with proposals deliberately
worse than the posteriors (shifted and too narrow, as VAE encoders tend to be). Checks that
the estimates converge as K grows and that the stated bias directions hold."""
import math

import numpy as np
import pytest
import torch

from mvae_lib.iwae import conditional_estimate, ess, iw_bound, iw_log_weights
from mvae_lib.objectives import gaussian_log_likelihood
from mvae_lib.posteriors import Gaussian, Mixture

D, DX, DW, B = 2, 4, 3, 32  # latent, x, w widths; test examples


@pytest.fixture(scope="module")
def linear_gaussian():
    """z ~ N(0, I), x | z ~ N(Az + b, s2 I), w | z ~ N(Cz + d, t2 I): data, exact log-likelihoods,
    log-joints and two poor proposals for the joint and the image-only posterior."""
    g = torch.Generator().manual_seed(0)
    A, C = torch.randn(DX, D, generator=g), torch.randn(DW, D, generator=g)
    b, d = torch.randn(DX, generator=g), torch.randn(DW, generator=g)
    s2, t2 = 0.3, 0.2
    z0 = torch.randn(B, D, generator=g)
    x = z0 @ A.T + b + s2 ** 0.5 * torch.randn(B, DX, generator=g)
    w = z0 @ C.T + d + t2 ** 0.5 * torch.randn(B, DW, generator=g)
    M = torch.cat([A, C])
    noise = torch.diag(torch.cat([torch.full((DX,), s2), torch.full((DW,), t2)]))
    exact_joint = torch.distributions.MultivariateNormal(torch.cat([b, d]), M @ M.T + noise).log_prob(
        torch.cat([x, w], 1))
    exact_x = torch.distributions.MultivariateNormal(b, A @ A.T + s2 * torch.eye(DX)).log_prob(x)

    def posterior(mats, residuals, noises):  # exact Gaussian posterior: mean and marginal variances
        cov = torch.linalg.inv(torch.eye(D) + sum(m.T @ m / n for m, n in zip(mats, noises)))
        return sum(r @ m / n for m, r, n in zip(mats, residuals, noises)) @ cov, torch.diagonal(cov)

    mu_j, v_j = posterior([A, C], [x - b, w - d], [s2, t2])
    mu_x, v_x = posterior([A], [x - b], [s2])

    def log_joints(z):  # (log p(x, w, z), log p(x, z)) for z (K, B, D)
        lz = gaussian_log_likelihood(z, torch.zeros(()), torch.zeros(()))
        lx = gaussian_log_likelihood(x, z @ A.T + b, torch.full((), math.log(s2)))
        lw = gaussian_log_likelihood(w, z @ C.T + d, torch.full((), math.log(t2)))
        return lz + lx + lw, lz + lx

    # worse than the posteriors: means shifted by half a standard deviation, variances too small
    # (0.3 of the posterior's for the image: weights of unbounded variance against p(z | x))
    q_joint = Gaussian(mu_j + 0.5 * v_j.sqrt(), torch.log(0.5 * v_j))
    q_x = Gaussian(mu_x + 0.5 * v_x.sqrt(), torch.log(0.3 * v_x))
    return dict(joint=exact_joint, marginal=exact_x, cond=exact_joint - exact_x, log_joints=log_joints,
                q_joint=q_joint, q_x=q_x)


def repeated(lg, K, repeats=20, seed=1):
    g = torch.Generator().manual_seed(seed)
    runs = [conditional_estimate(lg["log_joints"], lg["q_joint"], lg["q_x"], K, g) for _ in range(repeats)]
    return {k: torch.stack([r[k] for r in runs]) for k in runs[0]}  # (repeats, B)


def test_ess_is_k_for_equal_weights_and_one_for_a_single_dominant_weight():
    torch.testing.assert_close(ess(torch.zeros(50, 3)), torch.full((3,), 50.0))
    log_w = torch.full((50, 1), -100.0)
    log_w[7] = 0.0
    torch.testing.assert_close(ess(log_w), torch.ones(1))
    log_w = torch.log(torch.tensor([[1.0], [3.0]]))  # (1 + 3)^2 / (1 + 9)
    torch.testing.assert_close(ess(log_w), torch.tensor([1.6]))


def test_a_weighted_mixture_samples_and_normalises_with_its_weights():
    comps = [Gaussian(torch.full((1, 1), -3.0), torch.zeros(1, 1)), Gaussian(torch.full((1, 1), 3.0), torch.zeros(1, 1))]
    mix = Mixture(comps, (0.2, 0.8))
    z = mix.rsample(20000, torch.Generator().manual_seed(0))
    assert abs(float((z > 0).float().mean()) - 0.8) < 0.02
    grid = torch.linspace(-10, 10, 4001)[:, None, None]
    assert abs(float(torch.trapezoid(mix.log_prob(grid).exp()[:, 0], grid[:, 0, 0])) - 1) < 1e-4
    torch.testing.assert_close(mix.mean, torch.tensor([[0.2 * -3.0 + 0.8 * 3.0]]))
    with pytest.raises(ValueError, match="weights"):
        Mixture(comps, (0.5, 0.6))


def test_the_bounds_are_below_the_truth_on_average_and_converge(linear_gaussian):
    lg = linear_gaussian
    err = {}
    for K in (10, 100, 2000):
        est = repeated(lg, K)
        for term in ("joint", "marginal"):
            err[term, K] = float((est[term].mean(0) - lg[term]).mean())
            assert err[term, K] < 0, (term, K, err[term, K])  # a lower bound on average over draws
    for term in ("joint", "marginal"):
        assert err[term, 10] < err[term, 100] < err[term, 2000]  # rises with K
        assert -err[term, 2000] < 0.01 and -err[term, 2000] < 0.1 * -err[term, 10]  # towards the truth


def test_the_conditional_converges_to_the_truth(linear_gaussian):
    lg = linear_gaussian
    errors = []
    for K in (10, 100, 2000):
        est = repeated(lg, K)
        errors.append(float((est["cond"].mean(0) - lg["cond"]).abs().mean()))  # per example, mean over repeats
        assert (est["ess_cond"] <= est["ess_joint"] + 1e-4).all() and (est["ess_joint"] <= K + 1e-3).all()
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02, errors


def test_the_difference_of_independent_bounds_is_biased_high_with_a_narrow_image_posterior(linear_gaussian):
    """Why conditional_estimate shares its draws and mixes in the prior: the former estimator,
    log p(x, w) with q(z|x, w) minus log p(x) with q(z|x), each with K draws of its own,
    overestimates log p(w|x) when q(z|x) is too narrow, by more than the defensive estimate
    errs at the same cost (2 x K against 2K draws)."""
    lg = linear_gaussian
    g = torch.Generator().manual_seed(2)
    K = 100
    joint = lambda z: lg["log_joints"](z)[0]  # noqa: E731
    marginal = lambda z: lg["log_joints"](z)[1]  # noqa: E731
    old = torch.stack([iw_bound(iw_log_weights(joint, lg["q_joint"], K, g))
                       - iw_bound(iw_log_weights(marginal, lg["q_x"], K, g)) for _ in range(20)])
    new = repeated(lg, 2 * K)["cond"]
    bias_old = float((old.mean(0) - lg["cond"]).mean())
    bias_new = float((new.mean(0) - lg["cond"]).mean())
    assert bias_old > 0.05 and abs(bias_new) < 0.5 * bias_old, (bias_old, bias_new)


def test_log_likelihoods_and_the_settling_check_on_a_small_model():
    from mvae_lib.config import ModelConfig
    from mvae_lib.crossmodal import MissingView, log_likelihoods
    from mvae_lib.models import Modality, build_model
    from mvae_lib.settling import COLUMNS, resolution, settle

    torch.manual_seed(0)
    model = build_model("PoE", [Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")],
                        ModelConfig(hidden=(8,), latent=3)).eval()
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(7, 6)).astype("float32"), "w": (rng.random((7, 5)) < 0.5).astype("float32")}
    view = MissingView(model, None)
    ll = log_likelihoods(model, view, inputs, K=50)
    assert set(ll) == {"ll_joint", "ll_marginal", "ll_cond", "ess_joint", "ess_cond"}
    assert 1 <= ll["ess_cond"] <= ll["ess_joint"] <= 50
    torch.testing.assert_close(ll["ll_cond"], ll["ll_joint"] - ll["ll_marginal"], atol=1e-4, rtol=0)
    per = log_likelihoods(model, view, inputs, K=50, per_example=True)
    assert per["ll_joint"].shape == (7,) and abs(per["ll_joint"].mean() - ll["ll_joint"]) < 1e-4  # same seed
    s = settle(model, view, inputs, Ks=[5, 20, 60], repeats=2)
    assert s.Ks == (5, 20, 60) and s.n == 7
    for c in COLUMNS:
        assert len(s.means[c]) == 3 and len(s.means[c][0]) == 2 and len(s.means[c][2]) == 1  # largest K once
        assert s.movement(c) == pytest.approx(np.mean(s.means[c][2]) - np.mean(s.means[c][1]))
        assert resolution({"PoE": s}, c) == pytest.approx(abs(s.movement(c)) + s.spread(c))
    with pytest.raises(ValueError, match="two values of K"):
        settle(model, view, inputs, Ks=[5], repeats=2)


def test_the_books_settling_check_runs_the_models_in_parallel_as_they_run_alone(tmp_path, tiny_preset):
    """Chapter.settling spreads the models over worker processes (settle_model); each model's
    result is the one settle_run gives on the same saved run, and is kept beside it."""
    from mvae_lib.book import setup
    from mvae_lib.datasets import load_split
    from mvae_lib.runs import get_run
    from mvae_lib.settling import settle_run

    chapter = setup(quick=True, dataset="mnist-halves", data_root=None, device="cpu", runs_dir=str(tmp_path),
                    splits=1, epochs=None)
    chapter.__class__ = type("TinyChapter", (type(chapter),), {"preset": property(lambda self: tiny_preset)})
    together = chapter.settling(models=("MVAE", "PoE"), n=3, repeats=2)
    assert list(together) == ["MVAE", "PoE"]
    K = chapter.evaluation.K
    for m, s in together.items():
        run = get_run("mnist-halves", m, 3, 0, preset=tiny_preset, out_dir=tmp_path, progress=False)
        alone = settle_run(run, load_split("mnist-halves", 0), (K // 10, K, 5 * K), n=3, repeats=2)
        assert alone == s
