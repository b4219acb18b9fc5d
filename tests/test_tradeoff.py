"""The cross-reconstruction terms of mvae_lib.tradeoff: weights read off the objectives, Monte
Carlo expectations against a brute-force computation, the reference codes, the predicted cost."""
import math

import numpy as np
import pytest
import torch

from mvae_lib.config import ModelConfig
from mvae_lib.models import Modality, build_model
from mvae_lib.posteriors import Gaussian, product_of_experts
from mvae_lib.tradeoff import (component_lrap, objective_bound, cross_share, cross_terms, cross_weights, expected_log_likelihood,
                               predicted_cost, reconstruction_weights, seen_posterior)

X, W = Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")
CFG = ModelConfig(hidden=(8,), latent=3)


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 6, generator=g), "w": (torch.rand(n, 5, generator=g) < 0.5).float()}


def model(kind, **options):
    torch.manual_seed(0)
    return build_model(kind, [X, W], CFG, **options).eval()


def test_cross_shares_follow_the_objectives():
    assert cross_share(model("MMVAE"), "w") == pytest.approx(1 / 2)
    assert cross_share(model("MMVAE"), "x") == pytest.approx(1 / 2)
    assert cross_share(model("MoPoE"), "w") == pytest.approx(1 / 3)
    for kind in ("MVAE", "JMVAE-kl", "PoE"):
        assert cross_share(model(kind), "w") == 0.0 and cross_weights(model(kind)) == {}
    assert cross_weights(model("MoPoE")) == pytest.approx({(("x",), "w"): 1 / 3, (("w",), "x"): 1 / 3})
    # PoE's bound of x alone reconstructs x only: no term reconstructs w from q(z|x)
    assert reconstruction_weights(model("PoE"))[("x",)] == {"x": 1.0}


@pytest.mark.parametrize("kind,options", [("MoPoE", {}), ("MMVAE", {"K": 1})])
def test_weights_reproduce_the_reconstruction_terms_of_the_loss(kind, options):
    """The loss's reconstruction terms (one draw per subset, on a batch repeated many times)
    equal the weighted sum of the expectations of reconstruction_weights, within Monte Carlo error."""
    m = model(kind, **options)
    one = batch()
    reps = 3000
    big = {k: v.repeat(reps, 1) for k, v in one.items()}  # many draws of each subset's code per example
    torch.manual_seed(1)
    with torch.no_grad():
        terms = m.loss(big)
    g = torch.Generator().manual_seed(2)
    for target in ("x", "w"):
        total, var = 0.0, 0.0
        for s, targets in reconstruction_weights(m).items():
            q = m.subset_posterior(one, s) if kind == "MoPoE" else m.posterior(one, given=s)
            mean, _ = expected_log_likelihood(m, q, one, target, 4000, g)
            total += targets[target] * mean.mean()
        # spread of the loss's term: per-draw standard deviation over the batch's rows
        z_sd = 0.0
        for s in reconstruction_weights(m):
            q = m.subset_posterior(one, s) if kind == "MoPoE" else m.posterior(one, given=s)
            _, v = expected_log_likelihood(m, q, one, target, 200, g)
            z_sd += float(v.mean())
        se = math.sqrt(z_sd / (len(one["x"]) * reps))
        assert float(-terms[f"rec_{target}"]) == pytest.approx(float(total), abs=5 * se + 1e-3)


def test_expected_log_likelihood_equals_brute_force():
    m = model("PoE")
    inputs = batch(4)
    q = Gaussian(torch.randn(4, 3), 0.3 * torch.randn(4, 3))
    mean, var = expected_log_likelihood(m, q, inputs, "w", 7, torch.Generator().manual_seed(5))
    eps = torch.randn((7, 4, 3), generator=torch.Generator().manual_seed(5))
    z = q.mu + torch.exp(0.5 * q.logvar) * eps  # (L, B, D)
    with torch.no_grad():
        logits = m.decoders["w"](z)[0]  # (L, B, D_w)
        ll = torch.distributions.Bernoulli(logits=logits).log_prob(inputs["w"]).sum(-1)  # (L, B)
    torch.testing.assert_close(mean, ll.mean(0))
    torch.testing.assert_close(var, ll.var(0))
    mean_x, _ = expected_log_likelihood(m, q, inputs, "x", 7, torch.Generator().manual_seed(5))
    with torch.no_grad():
        mu, logvar = m.decoders["x"](z)
        ll_x = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(inputs["x"]).sum(-1)
    torch.testing.assert_close(mean_x, ll_x.mean(0))


def test_reference_codes_saw_the_target():
    inputs = batch()
    mm = model("MMVAE")
    torch.testing.assert_close(seen_posterior(mm, inputs, "w").mu, mm.encoders["w"](inputs).mu)
    mo = model("MoPoE")
    prod = product_of_experts([mo.encoders["x"](inputs), mo.encoders["w"](inputs)], prior=False)
    torch.testing.assert_close(seen_posterior(mo, inputs, "w").mu, prod.mu)
    poe = model("PoE")
    torch.testing.assert_close(seen_posterior(poe, inputs, "x").mu, poe.posterior(inputs).mu)
    mvae = model("MVAE")
    torch.testing.assert_close(seen_posterior(mvae, inputs, "w").mu, mvae.encode(inputs).mu)


def test_cross_terms_and_predicted_cost():
    inputs = {k: v.numpy() for k, v in batch(10).items()}
    for kind, weight in (("MMVAE", 1 / 2), ("MoPoE", 1 / 3), ("PoE", 0.0)):
        m = model(kind)
        terms = cross_terms(m, inputs, draws=5, seed=3, batch_size=4)  # several batches
        assert set(terms) == {"x", "w"}
        for t in terms.values():
            assert t.deficit == pytest.approx(t.reference.mean - t.cross.mean)
            assert t.cross.mc_se > 0 and t.reference.mc_se > 0
        expected = weight * (terms["x"].deficit + terms["w"].deficit)
        assert predicted_cost(m, terms) == pytest.approx(expected)
        # the cross term of w is E_{q(z|x)} log p(w|z): the same draws by hand give the same mean
        again = cross_terms(m, inputs, draws=5, seed=3, batch_size=4)
        assert again["w"].cross.mean == terms["w"].cross.mean  # seeded
    mvae = model("MVAE")
    with pytest.raises(ValueError, match="fill_mean"):
        cross_terms(mvae, inputs, draws=2)
    means = {k: v.mean(0) for k, v in inputs.items()}
    assert predicted_cost(mvae, cross_terms(mvae, inputs, draws=2, fill_means=means)) == 0.0


def test_component_lrap(small_split):
    torch.manual_seed(0)
    mods = small_split.modalities
    for kind, names in (("MMVAE", {"x", "w"}), ("MoPoE", {"x", "w", "x+w"})):
        m = build_model(kind, mods, CFG).eval()
        out = component_lrap(m, small_split)
        assert set(out) == names | {"mixture"}
        assert all(0 < v <= 1 for v in out.values())
        # the mixture's expected LRAP is the mean of its components'; one draw per example is near it
        assert out["mixture"] == pytest.approx(np.mean([out[k] for k in names]), abs=0.15)
    with pytest.raises(ValueError, match="not a mixture"):
        component_lrap(build_model("PoE", mods, CFG), small_split)


@pytest.mark.parametrize("kind", ["MoPoE", "MVAE"])
def test_objective_bound_is_the_training_bound(kind):
    """MoPoE's bound in the sub-sampled form is its training objective; the MVAE's is its ELBO:
    both against the loss's ``elbo`` on a batch repeated many times, within Monte Carlo error."""
    m = model(kind)
    one = batch()
    reps = 3000
    torch.manual_seed(4)
    with torch.no_grad():
        elbo = float(m.loss({k: v.repeat(reps, 1) for k, v in one.items()})["elbo"])
    bound, parts = objective_bound(m, {k: v.numpy() for k, v in one.items()}, draws=2000, seed=1)
    assert set(parts) == ({("x",), ("w",), ("x", "w")} if kind == "MoPoE" else {("x", "w")})
    assert bound.mc_se > 0
    assert bound.mean == pytest.approx(elbo, abs=5 * bound.mc_se * math.sqrt(2000 / reps) + 5 * bound.mc_se + 0.05)


def test_as_results_pairs_measurements_split_by_split():
    from mvae_lib.stats import compare
    from mvae_lib.tradeoff import as_results

    measures = {("A", k): {"cost": 10.0 + k} for k in range(3)}
    measures.update({("B", k): {"cost": 4.0 + 2 * k} for k in range(3)})
    res = as_results(measures, "toy")
    c = compare(res, ("A", "tradeoff"), ("B", "tradeoff"), metric="cost")
    assert c.diffs == (6.0, 5.0, 4.0)
    assert res.cell("B", "tradeoff", "cost")["mean"] == pytest.approx(6.0)
