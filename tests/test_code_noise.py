import numpy as np
import pytest
import torch

from mvae_lib.code_noise import code_noise
from mvae_lib.objectives import kl_standard_normal


def random_posteriors(seed, n=400, d=6):
    """mu, logvar (n, d) with coordinates of every kind: offset, wide, narrow, at the prior."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.0, 0.1, 1.0, 3.0], size=d)
    mu = rng.normal(size=(n, d)) * scale + rng.normal(size=d)  # E_n[mu_k] != 0
    logvar = np.tanh(rng.normal(size=(n, d)) * rng.uniform(0, 3, size=d))  # the paper's tanh
    return mu, logvar


@pytest.mark.parametrize("seed", range(3))
def test_kl_is_the_mean_closed_form_kl(seed):
    mu, logvar = random_posteriors(seed)
    c = code_noise(torch.as_tensor(mu), torch.as_tensor(logvar))
    expected = kl_standard_normal(torch.as_tensor(mu), torch.as_tensor(logvar)).mean().item()
    assert c.kl.sum() == pytest.approx(expected, rel=1e-12)


def test_total_is_the_variance_of_sampled_codes():
    mu, logvar = random_posteriors(0, n=200)
    c = code_noise(mu, logvar)
    rng = np.random.default_rng(1)
    eps = rng.normal(size=(500,) + mu.shape)  # 500 draws per example
    z = (mu + np.exp(0.5 * logvar) * eps).reshape(-1, mu.shape[1])
    np.testing.assert_allclose(z.var(0), c.total, rtol=0.02)
    np.testing.assert_allclose((z**2).mean(0), c.second_moment, rtol=0.02)


@pytest.mark.parametrize("seed", range(20))
def test_noise_share_is_at_least_the_kl_bound(seed):
    mu, logvar = random_posteriors(seed)
    c = code_noise(mu, logvar)
    assert c.noise_share >= c.kl_bound
    # coordinate by coordinate too: noise / total >= exp(-2 KL_k)
    assert np.all(c.noise / c.total >= np.exp(-2 * c.kl))
    # the tanh floor (log sigma^2 >= -1) caps KL_k at half the second moment
    assert c.second_moment.mean() >= 2 * c.kl.sum() / mu.shape[1]


def test_bound_is_tight_at_unit_variance_and_one_sigma():
    # Var_n[mu_k] + sigma^2 = 1, E_n[mu_k] = 0, one sigma for all: every step is an equality
    rng = np.random.default_rng(0)
    sigma2 = 0.3
    mu = rng.normal(size=(1000, 4))
    mu = (mu - mu.mean(0)) / mu.std(0) * np.sqrt(1 - sigma2)
    c = code_noise(mu, np.full(mu.shape, np.log(sigma2)))
    np.testing.assert_allclose(c.total, 1.0, rtol=1e-12)
    np.testing.assert_allclose(c.kl, -0.5 * np.log(sigma2), rtol=1e-12)
    assert c.kl_bound == pytest.approx(c.noise_share, rel=1e-12)
    assert c.noise_share == pytest.approx(sigma2, rel=1e-12)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        code_noise(np.zeros((3, 2)), np.zeros((3, 4)))
