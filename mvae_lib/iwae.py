r"""Importance-weighted estimates of log-likelihoods (Burda, Grosse & Salakhutdinov 2016).

**The joint** :math:`\log p(x, w)`. For any proposal :math:`q(z)` that covers the posterior,

.. math:: \log p(o) \;\ge\; \mathcal L_K(o) = \mathbb E_{z_{1:K} \sim q}
          \Big[\log \frac1K \sum_{k=1}^K \frac{p(o, z_k)}{q(z_k)}\Big],

by Jensen's inequality; :math:`\mathcal L_1` is the ELBO, :math:`\mathcal L_K` rises with
:math:`K` and tends to :math:`\log p(o)` (their Theorem 1). The same estimator trains MMVAE
(:class:`mvae_lib.MMVAE`) and scores every generative model here, with the proposal below.
One estimate is a *stochastic* lower bound: below
:math:`\log p(o)` on average over draws, not on every draw. Its bias is
:math:`\approx -\mathrm{Var}_q[w]/(2K\,p(o)^2)` (the delta method; Maddison et al. 2017,
Nowozin 2018), but when the weights are heavy-tailed that formula, computed from the
draws, misses the tail the draws never reached: how far the estimate still is from
:math:`\log p(o)` is only seen by raising :math:`K` (:func:`mvae_lib.settling.settle`).

**The conditional** :math:`\log p(w \mid x) = \log p(x, w) - \log p(x)`. The difference of
two independent lower bounds has a bias of either sign: with an image-only posterior that
is too narrow, :math:`\log p(x)` is the more underestimated term and the difference comes
out too *high* (``tests/test_iwae_bias.py`` shows it); the self-normalised estimate with
draws from :math:`q(z \mid x)` alone rarely reaches the region where :math:`p(w \mid z)` is
large and then comes out too *low*.
:func:`conditional_estimate` draws :math:`z_{1:K}` once, from the *defensive mixture*
(Hesterberg 1995)

.. math:: r(z) = \pi_1\, q(z \mid x, w) + \pi_2\, q(z \mid x) + \pi_3\, p(z)

with :math:`\pi = (0.45, 0.45, 0.1)` (``DEFENSIVE``), and computes all three estimates from
the same weights:

.. math::

   \widehat{\log p}(x, w) &= \log \frac1K \sum_k \frac{p(x, w, z_k)}{r(z_k)}, \\
   \widehat{\log p}(x) &= \log \frac1K \sum_k \frac{p(x, z_k)}{r(z_k)}, \\
   \widehat{\log p}(w \mid x) &= \widehat{\log p}(x, w) - \widehat{\log p}(x).

The first component covers :math:`p(z \mid x, w)` (the numerator's posterior), the second
:math:`p(z \mid x)` (the denominator's), and the prior bounds every weight:
:math:`p(o, z)/r(z) \le p(o \mid z)/\pi_3`, and :math:`p(o \mid z)` is bounded (a Bernoulli
probability, or a Gaussian density whose log-variance the decoder's tanh keeps in
:math:`[-1, 1]`), so the weights have finite variance whatever the encoders (an encoder narrower than the posterior, common for VAEs, gives unbounded weights
and an estimate that converges very slowly), the bias is of order :math:`1/K` and the
estimate converges to :math:`\log p`. The first two are importance-weighted bounds with
proposal :math:`r`, so stochastic lower bounds; the third, a log of a ratio of two unbiased
sums, is consistent with a bias of order :math:`1/K` whose sign is not fixed.
``tests/test_iwae_bias.py`` checks all of this on a linear-Gaussian model whose
log-likelihoods are known in closed form, with proposals deliberately worse than the
posteriors.

Why not a bound with a known direction on :math:`\log p(w \mid x)`: it would need an
*upper* bound on :math:`\log p(x)`. Those come from exact posterior samples (the reverse
AIS of BDMC, Grosse et al. 2015; Wu et al. 2017), which exist only for data simulated from
the model; on test data they would need long MCMC chains per example, out of reach of the
CPU budget. So every estimate here is reported with its effective sample size
(:func:`ess`) and with how much it still moves as :math:`K` grows.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .posteriors import Gaussian, Mixture, Posterior


@torch.no_grad()
def iw_log_weights(log_joint: Callable[[Tensor], Tensor | tuple[Tensor, ...]], q: Posterior, K: int,
                   generator: torch.Generator | None = None, chunk: int = 100) -> Tensor | tuple[Tensor, ...]:
    """:math:`\\log p(o, z_k) - \\log q(z_k)` for ``K`` draws from ``q``, shape (K, B);
    drawn ``chunk`` at a time to bound memory.

    ``log_joint(z)`` maps draws (k, B, D) to :math:`\\log p(o, z)`, shape (k, B). It may return
    a tuple of such tensors (several targets, e.g. :math:`\\log p(x, w, z)` and
    :math:`\\log p(x, z)`, on the *same* draws); the result is then a tuple of (K, B) tensors.
    """
    if K < 1:
        raise ValueError(f"K (importance samples) must be >= 1; found {K}")
    out = []
    for start in range(0, K, chunk):
        z = q.rsample(min(chunk, K - start), generator)  # (k, B, D)
        log_q = q.log_prob(z)
        target = log_joint(z)
        out.append(tuple(t - log_q for t in target) if isinstance(target, tuple) else target - log_q)
    if isinstance(out[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*out))
    return torch.cat(out)


def iw_bound(log_weights: Tensor) -> Tensor:
    """:math:`\\log \\frac1K \\sum_k e^{\\log w_k}` per example, by ``logsumexp``: shape (B,)."""
    return torch.logsumexp(log_weights, 0) - math.log(log_weights.shape[0])


def ess(log_weights: Tensor) -> Tensor:
    """Effective sample size :math:`(\\sum_k w_k)^2 / \\sum_k w_k^2` of the weights, per example:
    shape (B,), between 1 (one draw carries all the weight) and :math:`K` (equal weights).

    Computed from log-weights as :math:`\\exp(2\\,\\mathrm{lse}(\\log w) - \\mathrm{lse}(2 \\log w))`,
    which never forms a weight (Kong 1992; Owen, *Monte Carlo theory*, ch. 9)."""
    return torch.exp(2 * torch.logsumexp(log_weights, 0) - torch.logsumexp(2 * log_weights, 0))


#: Weights of the defensive mixture: joint posterior, image-only posterior, prior (module docstring).
DEFENSIVE = (0.45, 0.45, 0.1)


def _batch_shape(q: Posterior) -> Tensor:
    """A (B, D) tensor of ``q``'s batch shape (the mean of its first Gaussian component)."""
    return q.mu if isinstance(q, Gaussian) else _batch_shape(q.components[0])


@torch.no_grad()
def conditional_estimate(log_joints: Callable[[Tensor], tuple[Tensor, Tensor]], q_joint: Posterior,
                         q_observed: Posterior, K: int, generator: torch.Generator | None = None,
                         chunk: int = 100, weights: tuple[float, float, float] = DEFENSIVE) -> dict[str, Tensor]:
    """Importance-weighted :math:`\\log p(x, w)`, :math:`\\log p(x)` and :math:`\\log p(w \\mid x)` per
    example from the same ``K`` draws of the defensive mixture (module docstring), each with
    the effective sample size of its weights.

    ``log_joints(z)`` returns :math:`(\\log p(x, w, z), \\log p(x, z))` for draws (k, B, D);
    ``q_joint`` is the posterior given every modality, ``q_observed`` given the observed ones
    (the image); ``weights`` those of ``q_joint``, ``q_observed`` and the prior
    :math:`\\mathcal N(0, I)` in the mixture. Returns (B,) tensors ``joint`` and
    ``marginal`` (stochastic lower bounds), ``cond`` (their difference: bias of either
    sign), ``ess_joint`` (ESS of the weights of :math:`p(x, w, z)`) and ``ess_cond`` (the
    smaller of that and the ESS of the weights of :math:`p(x, z)`). Costs ``K`` evaluations
    of the decoders per example.
    """
    like = _batch_shape(q_joint)
    prior = Gaussian(torch.zeros_like(like), torch.zeros_like(like))
    r = Mixture([q_joint, q_observed, prior], weights)
    num, den = iw_log_weights(log_joints, r, K, generator, chunk)  # (K, B) each
    joint, marginal = iw_bound(num), iw_bound(den)
    return {"joint": joint, "marginal": marginal, "cond": joint - marginal,
            "ess_joint": ess(num), "ess_cond": torch.minimum(ess(num), ess(den))}
