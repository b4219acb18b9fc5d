"""The missing-modality models (JMVAE-kl, PoE, MMVAE, MoPoE), their bounds in the special
cases where they must equal older ones, the IWAE estimator, fill strategies and image-only
inference."""
import math

import numpy as np
import pytest
import torch

from mvae_lib.config import ModelConfig
from mvae_lib.crossmodal import FILLS, MissingView, coherence, fill, refill_path
from mvae_lib.evaluate import fit_probe
from mvae_lib.iwae import iw_bound, iw_log_weights
from mvae_lib.models.mixtures import stratified_iw_bound
from mvae_lib.models import Modality, VariationalModel, build_model, model_names

MISSING_MODALITY_MODELS = model_names("own")
from mvae_lib.objectives import gaussian_log_likelihood, kl_standard_normal
from mvae_lib.posteriors import Gaussian, Mixture, product_of_experts

X, W = Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")
CFG = ModelConfig(hidden=(8,), latent=3)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 6, generator=g), "w": (torch.rand(n, 5, generator=g) < 0.5).float()}


@pytest.mark.parametrize("kind", MISSING_MODALITY_MODELS)
def test_every_new_model_trains_and_every_parameter_gets_a_gradient(kind):
    torch.manual_seed(0)
    model = build_model(kind, [X, W], CFG)
    terms = model.loss(batch())
    assert {"loss", "elbo", "rec_x", "rec_w"} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{kind}: no gradient reaches {name}"


def test_product_of_one_expert_and_the_prior_is_the_closed_form():
    torch.manual_seed(1)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = product_of_experts([Gaussian(mu, logvar)], prior=True)
    var = logvar.exp()
    torch.testing.assert_close(q.logvar.exp(), var / (1 + var))       # 1 / (1/var + 1)
    torch.testing.assert_close(q.mu, mu / (1 + var))                   # (mu/var) / (1/var + 1)
    # numerically: the product of the two densities over the normalised one is constant in z
    z = torch.randn(7, 4, 3)
    log_ratio = (gaussian_log_likelihood(z, mu, logvar) + gaussian_log_likelihood(z, torch.zeros(()), torch.zeros(()))
                 - q.log_prob(z))
    torch.testing.assert_close(log_ratio, log_ratio[:1].expand_as(log_ratio), atol=1e-4, rtol=1e-5)


def test_product_of_experts_is_precision_weighted():
    a = Gaussian(torch.tensor([[0.0]]), torch.tensor([[math.log(1.0)]]))
    b = Gaussian(torch.tensor([[3.0]]), torch.tensor([[math.log(0.5)]]))  # twice the precision
    q = product_of_experts([a, b], prior=False)
    assert q.mu.item() == pytest.approx(2.0) and q.logvar.exp().item() == pytest.approx(1 / 3)


def test_mixture_density_and_sampling():
    comps = [Gaussian(torch.full((2000, 1), -4.0), torch.zeros(2000, 1)),
             Gaussian(torch.full((2000, 1), 4.0), torch.zeros(2000, 1))]
    q = Mixture(comps)
    z = q.rsample(1, torch.Generator().manual_seed(0))[0]
    assert 0.45 < (z > 0).float().mean() < 0.55  # each component chosen half the time
    expected = torch.logsumexp(torch.stack([c.log_prob(z[None]) for c in comps]), 0) - math.log(2)
    torch.testing.assert_close(q.log_prob(z[None]), expected)
    torch.testing.assert_close(q.mean, torch.zeros(2000, 1))


def test_jmvae_with_alpha_zero_is_the_mvae_bound():
    torch.manual_seed(2)
    mvae = build_model("MVAE", [X, W], CFG)
    jmvae = build_model("JMVAE-kl", [X, W], CFG, alpha=0.0)
    missing, unexpected = jmvae.load_state_dict(mvae.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("encoders.x.", "encoders.w.")) for k in missing)
    inputs = batch()
    torch.manual_seed(3)
    a = mvae.loss(inputs, kl_weight=0.5)
    torch.manual_seed(3)
    b = jmvae.loss(inputs, kl_weight=0.5)
    for k in ("loss", "elbo", "kl", "rec_x", "rec_w"):
        torch.testing.assert_close(a[k], b[k])
    c = build_model("JMVAE-kl", [X, W], CFG, alpha=2.0)
    c.load_state_dict(jmvae.state_dict())
    torch.manual_seed(3)
    penalised = c.loss(inputs, kl_weight=0.5)
    torch.testing.assert_close(penalised["loss"], b["loss"] + 2.0 * (b["kl_x"] + b["kl_w"]))


def test_mopoe_of_one_modality_is_the_vae_bound():
    torch.manual_seed(4)
    vae = build_model("VAE", [X], CFG)
    mopoe = build_model("MoPoE", [X], CFG)
    mopoe.load_state_dict(vae.state_dict())  # same names: encoders.x, decoders.x
    inputs = {"x": batch()["x"]}
    torch.manual_seed(5)
    a = vae.loss(inputs, kl_weight=0.3)
    torch.manual_seed(5)
    b = mopoe.loss(inputs, kl_weight=0.3)
    for k in ("loss", "elbo", "kl", "rec_x"):
        torch.testing.assert_close(a[k], b[k])


def test_mmvae_bound_with_one_expert_and_k1_is_the_vae_bound():
    torch.manual_seed(6)
    mmvae = build_model("MMVAE", [X], CFG, K=1)
    inputs = {"x": batch(n=3)["x"]}
    q = mmvae.posterior(inputs)
    torch.manual_seed(7)
    _, bound, _ = stratified_iw_bound(mmvae, Mixture([q]), inputs, K=1)
    torch.manual_seed(7)
    z = q.rsample(1)                                     # the same draw
    single = mmvae.log_joint(z, inputs)[0] - q.log_prob(z)[0]
    torch.testing.assert_close(bound, single)
    # and its expectation is the VAE's bound with the KL in closed form
    with torch.no_grad():
        zs = q.rsample(20000)
        mc = (mmvae.log_joint(zs, inputs) - q.log_prob(zs)).mean(0)
        rec = -mmvae.log_likelihoods(zs, inputs)["x"].mean(0)
    torch.testing.assert_close(mc, -(rec + kl_standard_normal(q.mu, q.logvar)), atol=0.05, rtol=0.01)


def test_iwae_is_a_lower_bound_that_rises_with_k_on_a_linear_gaussian_model():
    torch.manual_seed(8)
    A, b, s2 = torch.randn(4, 2), torch.randn(4), 0.5
    x = torch.randn(64, 4)
    exact = torch.distributions.MultivariateNormal(b, A @ A.T + s2 * torch.eye(4)).log_prob(x)  # log p(x)

    def log_joint(z):  # log p(z) + log p(x|z), z (K, B, 2)
        return (gaussian_log_likelihood(z, torch.zeros(()), torch.zeros(()))
                + gaussian_log_likelihood(x, z @ A.T + b, torch.full((), math.log(s2))))

    q = Gaussian(torch.zeros(64, 2), torch.zeros(64, 2))  # the prior as the proposal: a poor one
    g = torch.Generator().manual_seed(0)
    means = {K: torch.stack([iw_bound(iw_log_weights(log_joint, q, K, g)) for _ in range(20)]).mean()
             for K in (1, 10, 100, 2000)}
    values = list(means.values())
    assert all(a < b for a, b in zip(values, values[1:])), means
    assert values[-1] <= exact.mean() + 0.01
    assert exact.mean() - values[-1] < 0.1 * (exact.mean() - values[0])


def test_fill_strategies_make_the_documented_input():
    torch.manual_seed(9)
    model = build_model("MVAE", [X, W], CFG).eval()
    x = {"x": torch.randn(5000, 6)}
    mean = torch.linspace(0.1, 0.9, 5)
    torch.testing.assert_close(fill(model, x, "zeros", mean)["w"], torch.zeros(5000, 5))
    torch.testing.assert_close(fill(model, x, "mean", mean)["w"], mean.expand(5000, 5))
    rnd = fill(model, x, "random", mean, generator=torch.Generator().manual_seed(0))["w"]
    assert set(rnd.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(rnd.mean(0), mean, atol=0.03, rtol=0)
    with torch.no_grad():
        w = torch.zeros(5000, 5)
        for _ in range(2):
            w = torch.sigmoid(model.decoders["w"](model.code({**x, "w": w}, "mean"))[0])
        torch.testing.assert_close(fill(model, x, "refill", mean, rounds=2)["w"], w)
        assert len(refill_path(model, x, rounds=4)) == 4
    with pytest.raises(ValueError, match="unknown fill strategy 'median'"):
        fill(model, x, "median", mean)
    with pytest.raises(ValueError, match="pass only the observed"):
        fill(model, {**x, "w": torch.zeros(5000, 5)}, "zeros", mean)


@pytest.mark.parametrize("kind,fill_strategy", [("MVAE", f) for f in FILLS] + [("MAE", "refill")]
                         + [(k, None) for k in MISSING_MODALITY_MODELS])
def test_image_only_inference_never_reads_w(kind, fill_strategy):
    torch.manual_seed(10)
    model = build_model(kind, [X, W], CFG).eval()
    view = MissingView(model, fill_strategy, np.full(5, 0.3))
    inputs = batch(n=6)
    garbage = {"x": inputs["x"], "w": torch.full((6, 5), 1e6)}
    with torch.no_grad():
        for mode in ("sample", "mean") if isinstance(model, VariationalModel) else ("mean",):
            a = view.code(inputs, mode, torch.Generator().manual_seed(0))
            b = view.code(garbage, mode, torch.Generator().manual_seed(0))
            torch.testing.assert_close(a, b)
        a = view.generate(inputs, 3, torch.Generator().manual_seed(1))
        b = view.generate(garbage, 3, torch.Generator().manual_seed(1))
        torch.testing.assert_close(a, b)
    assert a.shape == (6, 5) and ((a >= 0) & (a <= 1)).all()


def test_a_joint_only_model_needs_a_fill():
    model = build_model("MVAE", [X, W], CFG)
    with pytest.raises(ValueError, match="give it a fill strategy"):
        MissingView(model, None, np.zeros(5))
    with pytest.raises(ValueError, match="fill in the missing modality"):
        model.posterior({"x": torch.zeros(2, 6)}, given=["x"])


def test_coherence_is_accuracy_for_single_labels_and_lrap_otherwise():
    rng = np.random.default_rng(0)
    y = np.eye(3)[rng.integers(0, 3, 300)]
    w = y @ rng.normal(size=(3, 8)) + 0.1 * rng.normal(size=(300, 8))
    clf = fit_probe(w, y)
    assert coherence(clf, w, y) > 0.95
    assert coherence(clf, w[rng.permutation(300)], y) < 0.6
    multi = (rng.random((300, 3)) < 0.5).astype(float)
    assert 0 < coherence(fit_probe(w, multi), w, multi) <= 1


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        build_model("JMVAE-kl", [X, W], CFG, alpha=-1)
    with pytest.raises(ValueError, match="K .* must be >= 1"):
        build_model("MMVAE", [X, W], CFG, K=0)
    with pytest.raises(ValueError, match="does not take the options"):
        build_model("PoE", [X, W], CFG, K=3)
    with pytest.raises(ValueError, match="reads two or more"):
        build_model("PoE", [X], CFG)


def test_likelihood_examples_are_a_seeded_draw_over_every_digit():
    from mvae_lib.crossmodal import likelihood_examples
    from mvae_lib.datasets import load_split

    split = load_split("mnist-halves", 0)
    rows = likelihood_examples(split, 100)
    assert len(set(rows)) == 100 and list(rows) == sorted(rows)
    assert (rows == likelihood_examples(split, 100)).all()  # the same for every model
    assert set(likelihood_examples(split, 10)) <= set(rows)  # the settling check's examples are among them
    assert len(set(split.y_test[rows].argmax(1))) == 10  # not the first 100 rows, which are all zeros
    assert len(set(split.y_test[:100].argmax(1))) == 1
    with pytest.raises(ValueError, match="between 1 and"):
        likelihood_examples(split, 0)
