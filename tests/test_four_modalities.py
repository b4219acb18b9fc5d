"""The objectives of Part IV at more than two modalities, against values computed by hand.

PoE's sub-sampled objective (the full set, each modality, k random subsets), MoPoE's
authors' estimator (one subset per example, the subsets' mean KL), and MMVAE+'s objective:
written out by hand, its expectation below log p on a linear-Gaussian model with a
closed-form likelihood, and the conditional VAE's bound.
"""
import math

import pytest
import torch

from mvae_lib.config import ModelConfig
from mvae_lib.models import CVAE, Modality, build_model
from mvae_lib.objectives import bernoulli_log_likelihood, kl_standard_normal, log_standard_normal
from mvae_lib.posteriors import Gaussian, Mixture, product_of_experts

MODS = [Modality(q, 5, "bernoulli") for q in ("a", "b", "c", "d")]
CFG = ModelConfig(hidden=(8,), latent=3)


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m.name: (torch.rand(n, 5, generator=g) < 0.4).float() for m in MODS}


def elbo_by_hand(model, q, data, targets, z=None):
    z = q.mu + torch.exp(0.5 * q.logvar) * torch.randn_like(q.mu) if z is None else z
    log_lik = sum(bernoulli_log_likelihood(data[m], model.decoders[m](z)[0]) for m in targets)
    return log_lik - kl_standard_normal(q.mu, q.logvar)


def test_poe_at_four_modalities_sums_the_full_single_and_k_drawn_subset_elbos():
    torch.manual_seed(1)
    poe, data = build_model("PoE", MODS, CFG, subsets=2), batch()
    assert len(poe.middle) == 10  # the subsets of sizes 2 and 3 of four modalities
    torch.manual_seed(2)
    lib = poe.loss(data)
    torch.manual_seed(2)  # the library draws the k subsets first, then one z per subset in order
    picks = torch.randint(10, (2,)).tolist()
    subsets = [("a", "b", "c", "d"), ("a",), ("b",), ("c",), ("d",)] + [poe.middle[i] for i in picks]
    experts = {m: poe.encoders[m](data) for m in "abcd"}
    total = sum(elbo_by_hand(poe, product_of_experts([experts[m] for m in s], prior=True), data, s).mean()
                for s in subsets)
    torch.testing.assert_close(lib["loss"], -total)
    assert len(set(map(tuple, (poe.training_subsets() for _ in range(20)))) ) > 1  # drawn afresh per step


def test_poe_with_two_modalities_ignores_k():
    poe = build_model("PoE", MODS[:2], CFG, subsets=3)
    assert poe.training_subsets() == [("a", "b"), ("a",), ("b",)]


def test_mopoe_authors_estimator_draws_one_subset_per_example():
    torch.manual_seed(3)
    mopoe, data = build_model("MoPoE", MODS, CFG), batch()
    assert mopoe.estimator == "subsample" and len(mopoe.subsets) == 15
    torch.manual_seed(4)
    lib = mopoe.loss(data)
    torch.manual_seed(4)
    parts = [mopoe.subset_posterior(data, s) for s in mopoe.subsets]
    pick = torch.randint(15, (6,))
    rows = torch.arange(6)
    mu = torch.stack([q.mu for q in parts])[pick, rows]
    logvar = torch.stack([q.logvar for q in parts])[pick, rows]
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    rec = sum(bernoulli_log_likelihood(data[m], mopoe.decoders[m](z)[0]) for m in "abcd")
    kl = torch.stack([q.kl_to_prior() for q in parts]).mean(0)
    torch.testing.assert_close(lib["elbo"], (rec - kl).mean())


def test_mopoe_estimators_agree_in_expectation():
    """Averaged over many draws of the subsets and of z, both estimate the same objective."""
    torch.manual_seed(5)
    mopoe, data = build_model("MoPoE", MODS[:3], CFG), batch(n=400)
    with torch.no_grad():
        sub = torch.stack([mopoe.loss(data)["elbo"] for _ in range(50)])
        mopoe.estimator = "average"
        avg = torch.stack([mopoe.loss(data)["elbo"] for _ in range(50)])
    se = math.hypot(float(sub.std()), float(avg.std())) / math.sqrt(50)
    assert abs(float(sub.mean() - avg.mean())) < 4 * se + 1e-3
    assert float(sub.std()) > float(avg.std())  # the price of one decoder pass: more variance


def test_mopoe_rejects_an_unknown_estimator():
    with pytest.raises(ValueError, match="estimator must be one of"):
        build_model("MoPoE", MODS, CFG, estimator="all")


# --------------------------------------------------------------------------- MMVAE+
S2 = 0.5
OBS = (1.2, -0.4)


def linear_mmvaeplus():
    """MMVAE+ with z, w_1, w_2 in R and p(x_m | z, w_m) = N(x_m; z + w_m, S2): log p(x) in closed form."""
    mods = [Modality("x1", 1, "gaussian"), Modality("x2", 1, "gaussian")]
    model = build_model("MMVAE+", mods, ModelConfig(hidden=(), latent=1), private=1, K=1)
    with torch.no_grad():
        for m in ("x1", "x2"):
            head = model.decoders[m].inner.head.linear      # reads (z, w_m); rows: mu, pre-tanh logvar
            head.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
            head.bias.copy_(torch.tensor([0.0, math.atanh(math.log(S2))]))
    cov = torch.ones(2, 2) + torch.diag(torch.tensor([1 + S2, 1 + S2]))
    log_p = torch.distributions.MultivariateNormal(torch.zeros(2), cov).log_prob(torch.tensor(OBS))
    return model, float(log_p)


def test_mmvaeplus_joint_latent_log_likelihood_is_the_closed_form():
    model, log_p = linear_mmvaeplus()
    g = torch.linspace(-9, 9, 181)
    u = torch.cartesian_prod(g, g, g)[:, None, :]                    # (G^3, 1, 3): z, w_1, w_2
    data = {"x1": torch.tensor([[OBS[0]]]), "x2": torch.tensor([[OBS[1]]])}
    with torch.no_grad():
        log_joint = model.log_joint(u, data)[:, 0]
    cell = float(g[1] - g[0]) ** 3
    assert abs(math.log(float(log_joint.exp().sum()) * cell) - log_p) < 1e-3


def test_mmvaeplus_objective_by_hand_and_below_log_p():
    model, log_p = linear_mmvaeplus()
    B = 20000
    data = {"x1": torch.full((B, 1), OBS[0]), "x2": torch.full((B, 1), OBS[1])}
    torch.manual_seed(6)
    with torch.no_grad():
        _, bound, _ = model.objective_terms(data)
    torch.manual_seed(6)  # by hand, in the library's order: per expert z, w_r, then the others' w from r
    with torch.no_grad():
        experts = {m: model.split_expert(data, m) for m in ("x1", "x2")}
        q_mix = Mixture([experts["x1"][0], experts["x2"][0]])
        terms = []
        for r, d in (("x1", "x2"), ("x2", "x1")):
            q_z, q_w = experts[r]
            z, w_r = q_z.rsample(1)[0], q_w.rsample(1)[0]
            w_d = torch.randn(B, 1)                                       # r_d = N(0, 1) at the start
            ll = lambda x, zz, ww: -0.5 * (math.log(2 * math.pi * S2) + (x - zz - ww) ** 2 / S2)
            log_lik = ll(data[r], z, w_r) + ll(data[d], z, w_d)
            ratio = log_standard_normal(z) + log_standard_normal(w_r) - q_mix.log_prob(z[None])[0] \
                - q_w.log_prob(w_r[None])[0]
            terms.append((log_lik[:, 0] + ratio))
    torch.testing.assert_close(bound, (terms[0] + terms[1]) / 2, rtol=1e-4, atol=1e-4)
    se = float(bound.std()) / math.sqrt(B)
    assert float(bound.mean()) + 5 * se < log_p


def test_mmvaeplus_codes_and_posteriors():
    torch.manual_seed(7)
    model, data = build_model("MMVAE+", MODS, CFG, private=2), batch()
    assert model.latent_dim == 3 + 4 * 2
    assert model.code(data).shape == (6, 3) and model.joint_code(data).shape == (6, 3)
    q = model.posterior(data, given=["a", "c"])
    assert isinstance(q, Mixture) and len(q.components) == 2
    # the private code of a missing modality is the prior's, of an observed one its encoder's
    w_b = q.components[0].mu[:, 3 + 2:3 + 4]
    assert torch.equal(w_b, torch.zeros_like(w_b))
    torch.testing.assert_close(q.components[1].mu[:, 3 + 4:3 + 6], model.split_expert(data, "c")[1].mu)
    scale = torch.softmax(model.aux_theta[0], -1) * 2
    torch.testing.assert_close(scale, torch.ones(2))  # the auxiliary starts at the prior's scale


# --------------------------------------------------------------------------- CVAE
def test_cvae_bound_by_hand_and_importance_weighting_above_it():
    torch.manual_seed(8)
    cvae, data = CVAE(MODS, CFG, observed=["c"]), batch(n=200)
    assert cvae.targets == ("a", "b", "d")
    torch.manual_seed(9)
    lib = cvae.loss(data)
    torch.manual_seed(9)
    q, p = cvae.recognise(data), cvae.prior(data)
    z = q.mu + torch.exp(0.5 * q.logvar) * torch.randn_like(q.mu)
    logits = cvae.logits(z, data)
    rec = sum(bernoulli_log_likelihood(data[m], logits[m]) for m in ("a", "b", "d"))
    torch.testing.assert_close(lib["elbo"], (rec - q.kl(p)).mean())
    with torch.no_grad():
        iw, ess = cvae.conditional_log_likelihood(data, K=500, generator=torch.Generator().manual_seed(0))
    assert float(iw.mean()) > float(lib["elbo"].detach())  # the IW estimate lies above the one-sample bound
    assert (ess >= 1).all() and (ess <= 500).all()


def test_cvae_rejects_observing_everything_or_nothing():
    for observed in ([], ["a", "b", "c", "d"], ["z"]):
        with pytest.raises(ValueError, match="observes some of"):
            CVAE(MODS, CFG, observed=observed)


def test_mopoe_products_at_once_are_the_products_one_by_one():
    torch.manual_seed(10)
    mopoe, data = build_model("MoPoE", MODS, CFG), batch()
    q = mopoe.all_subset_posteriors(data)
    for i, s in enumerate(mopoe.subsets):
        one = mopoe.subset_posterior(data, s)
        torch.testing.assert_close(q.mu[i], one.mu)
        torch.testing.assert_close(q.logvar[i], one.logvar)


def test_mopoe_posterior_encodes_each_modality_once_and_is_the_mixture_of_the_products():
    torch.manual_seed(11)
    mopoe, data = build_model("MoPoE", MODS, CFG), batch()
    calls = []
    for m, enc in mopoe.encoders.items():
        enc.register_forward_hook(lambda *args, m=m: calls.append(m))
    for given in (None, ("a", "c", "d"), ("b",)):
        calls.clear()
        q = mopoe.posterior(data, given=given)
        names = mopoe.given(given)
        assert sorted(calls) == sorted(names)  # each expert once, not once per subset
        wanted = [s for s in mopoe.subsets if set(s) <= set(names)]
        parts = q.components if isinstance(q, Mixture) else [q]
        assert len(parts) == len(wanted)
        for part, s in zip(parts, wanted):
            one = mopoe.subset_posterior(data, s)  # computes its own experts
            assert torch.equal(part.mu, one.mu) and torch.equal(part.logvar, one.logvar)
