r"""Posteriors as objects: a diagonal Gaussian, products and mixtures of Gaussian experts.

The three shapes a posterior takes here: a diagonal Gaussian, the product of Gaussian
experts (a Gaussian again), and a uniform mixture of Gaussians.

Every encoder of a variational model returns a :class:`Gaussian`, and every model answers
``model.posterior(inputs, given)`` with one of these, so that training, codes, samples and
importance weights are computed the same way for the MVAE's joint encoder, a product of
experts (PoE-MVAE, MoPoE's subsets) and a mixture of experts (MMVAE, MoPoE). Each object
offers ``mean``, ``rsample(samples, generator)`` with shape (S, B, D) and ``log_prob(z)``
with shape (S, B); a :class:`Gaussian` also has its KL to the prior and to another Gaussian
in closed form, and unpacks as ``mu, logvar = q``.

Product of Gaussian experts (Wu & Goodman 2018, their eq. 4; Hinton 2002): with precisions
:math:`T_j = \sigma_j^{-2}`,

.. math:: \prod_j \mathcal N(z; \mu_j, \sigma_j^2) \;\propto\; \mathcal N\Big(z;\;
          \frac{\sum_j T_j \mu_j}{\sum_j T_j},\; \frac{1}{\sum_j T_j}\Big)

per dimension: precisions add, and the mean is the precision-weighted mean. The prior
:math:`\mathcal N(0, I)` is one more expert with :math:`\mu = 0`, :math:`T = 1`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .objectives import gaussian_log_likelihood, kl_normal, kl_standard_normal, reparameterize


@dataclass
class Gaussian:
    """:math:`\\mathcal N(\\mu, \\mathrm{diag}\\,\\sigma^2)`; ``mu`` and ``logvar`` of shape (B, D).

    The posterior type of every variational encoder here. It unpacks as a pair,
    ``mu, logvar = q``.
    """

    mu: Tensor
    logvar: Tensor

    def __iter__(self):
        return iter((self.mu, self.logvar))

    @property
    def mean(self) -> Tensor:
        return self.mu

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """One reparameterised draw per row, shape (B, D) (:func:`mvae_lib.objectives.reparameterize`)."""
        return reparameterize(self.mu, self.logvar, generator)

    def kl_to_prior(self) -> Tensor:
        """:math:`\\mathrm{KL}(q \\,\\|\\, \\mathcal N(0, I))` per row, shape (B,), in closed form."""
        return kl_standard_normal(self.mu, self.logvar)

    def kl(self, other: "Gaussian") -> Tensor:
        """:math:`\\mathrm{KL}(q \\,\\|\\, \\text{other})` per row, shape (B,), in closed form."""
        return kl_normal(self.mu, self.logvar, other.mu, other.logvar)

    def rsample(self, samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``samples`` reparameterised draws, shape (S, B, D)."""
        eps = torch.randn((samples, *self.mu.shape), generator=generator, device=self.mu.device,
                          dtype=self.mu.dtype)
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def log_prob(self, z: Tensor) -> Tensor:
        """Log-density of ``z`` (S, B, D), summed over D: shape (S, B)."""
        return gaussian_log_likelihood(z, self.mu, self.logvar)


def product_of_experts(experts: Sequence[Gaussian], prior: bool = True) -> Gaussian:
    """The normalised product of diagonal Gaussian experts, times :math:`\\mathcal N(0, I)` if ``prior``.

    Precisions add, the mean is the precision-weighted mean (module docstring). Computed
    from log-variances with ``logsumexp`` so that tiny or huge variances do not overflow.
    """
    if not experts and not prior:
        raise ValueError("a product of experts needs at least one expert")
    mus = [e.mu for e in experts]
    logvars = [e.logvar for e in experts]
    if prior:
        like = experts[0].mu if experts else None
        if like is None:
            raise ValueError("the prior alone has no batch shape; pass at least one expert")
        mus.append(torch.zeros_like(like))
        logvars.append(torch.zeros_like(like))
    mu = torch.stack(mus)                    # (J, B, D)
    neg_logvar = -torch.stack(logvars)       # log precisions, (J, B, D)
    logvar = -torch.logsumexp(neg_logvar, 0)  # log(1 / sum_j T_j), (B, D)
    weights = torch.exp(neg_logvar + logvar)  # T_j / sum_j T_j, (J, B, D)
    return Gaussian((weights * mu).sum(0), logvar)


@dataclass
class Mixture:
    r"""Mixture :math:`\sum_m \pi_m q_m(z)` of posterior components, uniform
    (:math:`\pi_m = 1/M`) unless ``weights`` are given.

    ``mean`` is the mixture's mean (the weighted average of the component means, which
    must be Gaussians); ``rsample`` picks a component for every draw (the draw is then not
    differentiable with respect to the choice, which is why MMVAE trains on the
    *stratified* bound, with samples from every component; see :class:`mvae_lib.MMVAE`).
    A component may itself be a mixture (the defensive proposal of
    :func:`mvae_lib.iwae.conditional_estimate` mixes MMVAE's posterior with others).
    """

    components: list[Gaussian]
    weights: tuple[float, ...] | None = None  # None: uniform

    def __post_init__(self):
        if self.weights is not None and (len(self.weights) != len(self.components)
                                         or abs(sum(self.weights) - 1) > 1e-6 or min(self.weights) <= 0):
            raise ValueError(f"a mixture of {len(self.components)} components needs as many positive weights "
                             f"summing to 1; found {self.weights}")

    def _log_pi(self, like: Tensor) -> Tensor:
        M = len(self.components)
        pi = torch.full((M,), 1 / M) if self.weights is None else torch.tensor(self.weights)
        return pi.log().to(like)

    @property
    def mean(self) -> Tensor:
        mus = torch.stack([c.mu for c in self.components])  # (M, B, D)
        if self.weights is None:
            return mus.mean(0)
        return (self._log_pi(mus).exp()[:, None, None] * mus).sum(0)

    def rsample(self, samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
        draws = torch.stack([c.rsample(samples, generator) for c in self.components])  # (M, S, B, D)
        M, S, B, _ = draws.shape
        device = draws.device
        if self.weights is None:
            pick = torch.randint(M, (S, B), generator=generator, device=device)  # (S, B)
        else:
            pi = torch.tensor(self.weights, device=device)
            pick = torch.multinomial(pi, S * B, replacement=True, generator=generator).reshape(S, B)
        return draws.gather(0, pick[None, :, :, None].expand(1, S, B, draws.shape[-1]))[0]

    def log_prob(self, z: Tensor) -> Tensor:
        """:math:`\\log \\sum_m \\pi_m q_m(z)`, shape (S, B), by ``logsumexp``."""
        per = torch.stack([c.log_prob(z) for c in self.components])  # (M, S, B)
        if self.weights is None:
            return torch.logsumexp(per, 0) - math.log(len(self.components))
        return torch.logsumexp(per + self._log_pi(per)[:, None, None], 0)


Posterior = Gaussian | Mixture
