"""The bounds of the chapter "Encoders for every subset" against values computed by hand.

MMVAE's stratified bound on a linear-Gaussian model whose log p(x, w) is known in closed
form, with two experts and K > 1: it stays below log p(x, w) although the term of one
expert does not, and it is not the importance-weighted bound whose proposal is the
mixture. PoE's and MoPoE's losses against their subset ELBOs written out by hand.
"""
import math

import torch

from mvae_lib.config import ModelConfig
from mvae_lib.iwae import iw_bound, iw_log_weights
from mvae_lib.models import Modality, build_model, stratified_iw_bound
from mvae_lib.objectives import bernoulli_log_likelihood, gaussian_log_likelihood, kl_standard_normal
from mvae_lib.posteriors import Gaussian, Mixture, product_of_experts

S2 = 0.5  # the decoders' noise variance
OBS = {"x": 1.5, "w": 0.5}


def linear_gaussian_mmvae():
    """An MMVAE with z in R and decoders p(m|z) = N(m; z, S2): log p(x, w) in closed form."""
    model = build_model("MMVAE", [Modality("x", 1, "gaussian"), Modality("w", 1, "gaussian")],
                        ModelConfig(hidden=(), latent=1))
    with torch.no_grad():
        for m in ("x", "w"):
            head = model.decoders[m].head.linear  # output rows: mu, pre-tanh logvar
            head.weight.copy_(torch.tensor([[1.0], [0.0]]))
            head.bias.copy_(torch.tensor([0.0, math.atanh(math.log(S2))]))
    return model


def exact():
    """log p(x, w) ((x, w) ~ N(0, 11^T + S2 I)) and the exact posterior's mean and variance."""
    obs = torch.tensor([OBS["x"], OBS["w"]])
    log_p = torch.distributions.MultivariateNormal(torch.zeros(2), torch.ones(2, 2) + S2 * torch.eye(2)).log_prob(obs)
    precision = 1 + 2 / S2
    return float(log_p), float(obs.sum() / S2 / precision), 1 / precision


def experts(B):
    """q_x = the exact posterior, q_w = a poor guess elsewhere; B copies of the one example."""
    _, mu, var = exact()
    q_x = Gaussian(torch.full((B, 1), mu), torch.full((B, 1), math.log(var)))
    q_w = Gaussian(torch.full((B, 1), -1.5), torch.full((B, 1), math.log(0.25)))
    return Mixture([q_x, q_w])


def inputs(B):
    return {m: torch.full((B, 1), v) for m, v in OBS.items()}


def test_the_log_likelihood_of_the_linear_model_is_the_closed_form():
    model, (log_p, _, _) = linear_gaussian_mmvae(), exact()
    z = torch.linspace(-12, 12, 200001)[:, None, None]  # (G, 1, 1)
    with torch.no_grad():
        log_joint = model.log_joint(z, inputs(1))[:, 0]
    assert abs(math.log(torch.trapezoid(log_joint.exp(), z[:, 0, 0])) - log_p) < 1e-4


def test_stratified_bound_is_below_log_p_though_one_expert_term_is_above():
    """The error this catches: 'each inner term is an IW bound of log p with proposal q_m'."""
    model, (log_p, _, _), B, K = linear_gaussian_mmvae(), exact(), 20000, 4
    q, data = experts(B), inputs(B)
    torch.manual_seed(0)
    with torch.no_grad():
        _, bound, _ = stratified_iw_bound(model, q, data, K)
        torch.manual_seed(0)  # the same draws, by hand: one term per expert
        terms = []
        for expert in q.components:
            z = expert.rsample(K)                                               # (K, B, 1)
            terms.append(torch.logsumexp(model.log_joint(z, data) - q.log_prob(z), 0) - math.log(K))
    torch.testing.assert_close(bound, (terms[0] + terms[1]) / 2)
    se = lambda t: float(t.std()) / math.sqrt(B)
    assert float(terms[0].mean()) > log_p + 0.5 > log_p + 10 * se(terms[0])  # the exact expert's term: above
    assert float(bound.mean()) < log_p - 1.0                                  # their mean: below
    assert float(bound.mean()) + 5 * se(bound) < log_p


def test_stratified_bound_is_the_mixture_elbo_at_k1_but_not_the_mixture_iw_bound_above():
    model, (log_p, _, _), B = linear_gaussian_mmvae(), exact(), 20000
    q, data = experts(B), inputs(B)
    log_joint = lambda z: model.log_joint(z, data)
    se = lambda t: float(t.std()) / math.sqrt(B)
    values = {}
    with torch.no_grad():
        for K in (1, 4, 64):
            torch.manual_seed(K)
            _, strat, _ = stratified_iw_bound(model, q, data, K)
            mix = iw_bound(iw_log_weights(log_joint, q, K, torch.Generator().manual_seed(K)))
            values[K] = strat.mean(), mix.mean(), math.hypot(se(strat), se(mix))
    s1, m1, e1 = values[1]
    assert abs(s1 - m1) < 4 * e1                       # K = 1: both are the mixture's ELBO
    s4, m4, e4 = values[4]
    assert m4 - s4 > 2.0 > 20 * e4                     # K = 4: far apart
    s64, m64, _ = values[64]
    assert s4 < s64 < log_p - 1.0 and m64 > log_p - 0.05  # the mixture's bound closes in, the stratified one does not


X, W = Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")
CFG = ModelConfig(hidden=(8,), latent=3)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 6, generator=g), "w": (torch.rand(n, 5, generator=g) < 0.5).float()}


def elbo_by_hand(model, q, data, targets):
    """One-sample E_q[sum of log p(m|z) over targets] - KL(q || N(0, I)), per example."""
    z = q.mu + torch.exp(0.5 * q.logvar) * torch.randn_like(q.mu)  # (B, D)
    log_lik = 0.0
    if "x" in targets:
        mu_x, logvar_x = model.decoders["x"](z)
        log_lik = log_lik + gaussian_log_likelihood(data["x"], mu_x, logvar_x)
    if "w" in targets:
        (logits,) = model.decoders["w"](z)
        log_lik = log_lik + bernoulli_log_likelihood(data["w"], logits)
    return log_lik - kl_standard_normal(q.mu, q.logvar)


def test_poe_loss_is_minus_the_sum_of_the_three_subset_elbos():
    torch.manual_seed(11)
    poe, data = build_model("PoE", [X, W], CFG), batch()
    torch.manual_seed(12)
    lib = poe.loss(data)
    torch.manual_seed(12)  # the same noise, drawn in the library's order: (x, w), x, w
    q_x, q_w = poe.encoders["x"](data), poe.encoders["w"](data)
    elbos = {s: elbo_by_hand(poe, product_of_experts(e, prior=True), data, s).mean()
             for s, e in ((("x", "w"), [q_x, q_w]), (("x",), [q_x]), (("w",), [q_w]))}
    torch.testing.assert_close(lib["loss"], -sum(elbos.values()))
    torch.testing.assert_close(lib["elbo"], elbos[("x", "w")])
    torch.testing.assert_close(lib["elbo_x"], elbos[("x",)])


def test_mopoe_averaged_loss_is_minus_the_mean_of_the_subset_elbos():
    torch.manual_seed(13)
    mopoe, data = build_model("MoPoE", [X, W], CFG, estimator="average"), batch()
    torch.manual_seed(14)
    lib = mopoe.loss(data)
    torch.manual_seed(14)  # the library's order: x, w, (x, w); every subset reconstructs both
    q_x, q_w = mopoe.encoders["x"](data), mopoe.encoders["w"](data)
    subsets = [q_x, q_w, product_of_experts([q_x, q_w], prior=False)]  # no prior expert
    elbos = [elbo_by_hand(mopoe, q, data, ("x", "w")).mean() for q in subsets]
    torch.testing.assert_close(lib["loss"], -sum(elbos) / 3)
    torch.testing.assert_close(lib["elbo"], sum(elbos) / 3)
