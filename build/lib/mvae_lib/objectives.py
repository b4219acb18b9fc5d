"""The objectives: log-likelihoods, the Gaussian KL and the (multimodal) lower bound.

The book's chapters "The VAE and its lower bound" and "The multimodal VAE" derive every
function here. All functions sum over feature
dimensions and return one value per example; the losses average over the mini-batch.

Conventions (one glossary for the library and the book):
``x`` image features, ``w`` tags, ``y`` labels (the probe's target only), ``z`` latent,
``mu`` / ``logvar`` the mean and log-variance of a diagonal Gaussian (``sigma`` is only ever
a standard deviation), ``eps`` standard normal noise, ``h_x`` / ``h_w`` hidden features of a
modality's branch, ``eta`` / ``rho`` the logits / probabilities of a Bernoulli decoder,
``L`` the number of Monte Carlo samples of the SGVB estimator.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_likelihood(x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    r"""Log-density of ``x`` under a diagonal Gaussian, summed over the last dimension.

    .. math:: \log \mathcal N(x; \mu, \sigma^2 I)
              = -\tfrac12 \sum_d \left[\log 2\pi + \log\sigma_d^2
                + (x_d - \mu_d)^2 / \sigma_d^2\right]
    """
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def bernoulli_log_likelihood(w: Tensor, logits: Tensor) -> Tensor:
    r"""Log-probability of binary ``w`` under independent Bernoullis, summed over the last dim.

    With :math:`\rho = \mathrm{sigmoid}(\eta)` for logits :math:`\eta`,

    .. math:: \sum_d w_d \log \rho_d + (1 - w_d) \log(1 - \rho_d)
              = -\sum_d \mathrm{BCE}(\eta_d, w_d),

    computed from the logits (``binary_cross_entropy_with_logits`` uses
    :math:`\log(1+e^{\eta})` in its overflow-free form), never from :math:`\rho`.
    """
    return -F.binary_cross_entropy_with_logits(logits, w, reduction="none").sum(-1)


LOG_LIKELIHOODS = {"gaussian": gaussian_log_likelihood, "bernoulli": bernoulli_log_likelihood}


def log_standard_normal(z: Tensor) -> Tensor:
    r""":math:`\log \mathcal N(z; 0, I)`, the prior's log-density, summed over the last dimension.

    :func:`gaussian_log_likelihood` with :math:`\mu = 0`, :math:`\log\sigma^2 = 0`
    (the same floating-point operations: adding 0 and multiplying by 1 are exact).
    """
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def kl_normal(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    r"""Closed-form KL between two diagonal Gaussians, summed over the last dimension.

    .. math:: &\mathrm{KL}\big(\mathcal N(\mu_q, \mathrm{diag}\,\sigma_q^2) \,\|\,
              \mathcal N(\mu_p, \mathrm{diag}\,\sigma_p^2)\big) \\
              &\quad = \tfrac12 \sum_d \left(\log\frac{\sigma_{p,d}^2}{\sigma_{q,d}^2}
                + \frac{\sigma_{q,d}^2 + (\mu_{q,d} - \mu_{p,d})^2}{\sigma_{p,d}^2} - 1\right)

    Per dimension, :math:`\mathbb E_q[\log q(z) - \log p(z)]` with
    :math:`\mathbb E_q[(z - \mu_p)^2] = \sigma_q^2 + (\mu_q - \mu_p)^2`. The arguments
    broadcast against each other. The VAE chapter derives it; JMVAE-kl's penalty
    :math:`\mathrm{KL}(q(z|x,w) \,\|\, q(z|x))` is one use.
    """
    return 0.5 * (logvar_p - logvar_q
                  + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0).sum(-1)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""Closed-form :math:`\mathrm{KL}(\mathcal N(\mu, \mathrm{diag}\,\sigma^2) \,\|\, \mathcal N(0, I))`.

    .. math:: \tfrac12 \sum_d \left(\mu_d^2 + \sigma_d^2 - \log\sigma_d^2 - 1\right)

    The special case :math:`\mu_p = 0`, :math:`\sigma_p = 1` of :func:`kl_normal`, written
    out because the bound evaluates it at every training step. Kingma & Welling (2014),
    appendix B; the VAE chapter.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(-1)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Draw :math:`z = \mu + \sigma \odot \epsilon`, :math:`\epsilon \sim \mathcal N(0, I)`.

    The draw is a deterministic, differentiable function of ``(mu, logvar)`` given
    ``eps``, which is what lets gradients flow through the sample (SGVB).
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps  # the one place a Gaussian draw is made (Gaussian.sample)


def reconstruction_terms(
    likelihoods: Mapping[str, str], targets: Mapping[str, Tensor], params: Mapping[str, tuple[Tensor, ...]]
) -> dict[str, Tensor]:
    """Negative log-likelihood of each modality, one value per example: ``{"rec_x": ...}``."""
    return {
        f"rec_{m}": -LOG_LIKELIHOODS[likelihoods[m]](targets[m], *params[m]) for m in likelihoods
    }


def negative_elbo(
    terms: Mapping[str, Tensor], kl: Tensor | None, kl_weight: float = 1.0
) -> dict[str, Tensor]:
    r"""Assemble the loss from per-example terms and average over the batch.

    Multimodal bound (paper eq. 6), negated:

    .. math:: -\mathcal L(x, w) = \mathrm{KL}(q(z|x,w)\,\|\,p(z))
              - \mathbb E_q[\log p(x|z)] - \mathbb E_q[\log p(w|z)]

    With one modality this is the VAE bound (paper eq. 2; its estimator is eq. 3); with ``kl=None`` it is the
    reconstruction loss of a (multimodal) autoencoder. ``kl_weight`` < 1 is KL annealing
    during warm-up; the reported ``"elbo"`` always uses weight 1.

    Returns
    -------
    dict
        ``"loss"`` (what is minimised), ``"elbo"`` (the bound, weight 1, for reporting),
        ``"kl"`` when variational, and every ``"rec_<modality>"``; all batch means.
    """
    rec = sum(terms.values())
    out = {name: t.mean() for name, t in terms.items()}
    if kl is None:
        out["loss"] = rec.mean()
        out["elbo"] = -out["loss"]
    else:
        out["kl"] = kl.mean()
        out["loss"] = (rec + kl_weight * kl).mean()
        out["elbo"] = -(rec + kl).mean()
    return out
