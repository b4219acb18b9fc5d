import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from mvae_lib.objectives import (bernoulli_log_likelihood, gaussian_log_likelihood, kl_normal, kl_standard_normal,
                                 negative_elbo, reparameterize)


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5), torch.tanh(torch.randn(3, 5))
    z = reparameterize(mu.expand(200_000, 3, 5), logvar.expand(200_000, 3, 5))
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros(()), torch.ones(()))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)  # (3,) estimate of KL(q || p)
    closed = kl_standard_normal(mu, logvar)
    torch.testing.assert_close(closed, mc, atol=0.03, rtol=0.01)
    exact = kl_divergence(Independent(q, 1), Independent(Normal(torch.zeros(3, 5), torch.ones(3, 5)), 1))
    torch.testing.assert_close(closed, exact)


def test_kl_is_zero_only_at_the_prior():
    assert torch.allclose(kl_standard_normal(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2))
    assert (kl_standard_normal(torch.full((1, 4), 0.1), torch.zeros(1, 4)) > 0).all()


def test_gaussian_log_likelihood_matches_torch_distributions():
    torch.manual_seed(1)
    x, mu, logvar = torch.randn(4, 7), torch.randn(4, 7), torch.tanh(torch.randn(4, 7))
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mu, logvar), expected)


def test_bernoulli_log_likelihood_matches_torch_distributions_even_for_large_logits():
    torch.manual_seed(2)
    w = (torch.rand(4, 9) < 0.3).float()
    logits = 30 * torch.randn(4, 9)  # saturated sigmoids: naive log(sigmoid) would give -inf
    expected = Bernoulli(logits=logits).log_prob(w).sum(-1)
    got = bernoulli_log_likelihood(w, logits)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected)


def test_reparameterize_has_the_right_moments_and_gradients():
    torch.manual_seed(3)
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.5, -0.5], requires_grad=True)
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2))
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), logvar.detach().exp(), atol=0.03, rtol=0)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None


def test_negative_elbo_assembles_the_bound():
    rec = {"rec_x": torch.tensor([1.0, 3.0]), "rec_w": torch.tensor([2.0, 2.0])}
    kl = torch.tensor([0.5, 1.5])
    out = negative_elbo(rec, kl, kl_weight=0.5)
    assert out["loss"].item() == pytest.approx((1 + 3 + 2 + 2) / 2 + 0.5 * 1.0)
    assert out["elbo"].item() == pytest.approx(-(4 + 1.0))
    assert out["kl"].item() == pytest.approx(1.0)
    assert set(out) == {"loss", "elbo", "kl", "rec_x", "rec_w"}
    ae = negative_elbo(rec, None)
    assert "kl" not in ae and ae["loss"].item() == pytest.approx(4.0)
    assert math.isclose(ae["elbo"].item(), -4.0)


def test_general_kl_matches_torch_distributions_and_reduces_to_the_standard_normal_case():
    torch.manual_seed(5)
    mu_q, mu_p = torch.randn(3, 6), torch.randn(3, 6)
    logvar_q, logvar_p = torch.randn(3, 6), torch.randn(3, 6)
    expected = kl_divergence(Independent(Normal(mu_q, (0.5 * logvar_q).exp()), 1),
                             Independent(Normal(mu_p, (0.5 * logvar_p).exp()), 1))
    torch.testing.assert_close(kl_normal(mu_q, logvar_q, mu_p, logvar_p), expected)
    zero = torch.zeros(())
    torch.testing.assert_close(kl_normal(mu_q, logvar_q, zero, zero), kl_standard_normal(mu_q, logvar_q))
    assert kl_normal(mu_q, logvar_q, mu_q, logvar_q).abs().max() < 1e-6
