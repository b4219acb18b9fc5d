r"""Importance-weighted estimates of log-likelihoods (Burda, Grosse & Salakhutdinov 2016).

For any proposal :math:`q(z)` that covers the posterior,

.. math:: \log p(o) \;\ge\; \mathcal L_K(o) = \mathbb E_{z_{1:K} \sim q}
          \Big[\log \frac1K \sum_{k=1}^K \frac{p(o, z_k)}{q(z_k)}\Big],

by Jensen's inequality; :math:`\mathcal L_1` is the ELBO, :math:`\mathcal L_K` rises with
:math:`K` and tends to :math:`\log p(o)` (their Theorem 1). The same estimator trains MMVAE
(:class:`mvae_lib.MMVAE`) and scores every generative model here: :math:`\log p(x, w)` with
the model's joint posterior as proposal, :math:`\log p(x)` with its image-only posterior, and
the conditional :math:`\log p(w|x) = \log p(x, w) - \log p(x)` as the difference of the two
(consistent as :math:`K \to \infty`, but, being a difference of two lower bounds, not a
bound itself: the book shows that it has settled).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .posteriors import Posterior


@torch.no_grad()
def iw_log_weights(log_joint: Callable[[Tensor], Tensor], q: Posterior, K: int,
                   generator: torch.Generator | None = None, chunk: int = 100) -> Tensor:
    """:math:`\\log p(o, z_k) - \\log q(z_k)` for ``K`` draws from ``q``, shape (K, B);
    drawn ``chunk`` at a time to bound memory."""
    if K < 1:
        raise ValueError(f"K (importance samples) must be >= 1; found {K}")
    out = []
    for start in range(0, K, chunk):
        z = q.rsample(min(chunk, K - start), generator)  # (k, B, D)
        out.append(log_joint(z) - q.log_prob(z))
    return torch.cat(out)


def iw_bound(log_weights: Tensor) -> Tensor:
    """:math:`\\log \\frac1K \\sum_k e^{\\log w_k}` per example, by ``logsumexp``: shape (B,)."""
    return torch.logsumexp(log_weights, 0) - math.log(log_weights.shape[0])
