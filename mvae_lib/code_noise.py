r"""How much of a sampled code is posterior noise: the moments of a Gaussian encoder's codes.

Over a data set :math:`x_1, \dots, x_N` a Gaussian encoder gives
:math:`q(z_k \mid x_n) = \mathcal N(\mu_{nk}, \sigma_{nk}^2)`. A code sampled from it,
:math:`z_k = \mu_k + \sigma_k \epsilon_k`, has per coordinate the variance

.. math:: \operatorname{Var}_{n,\epsilon}[z_k] = \operatorname{Var}_n[\mu_k]
          + \mathbb E_n[\sigma_k^2]

(signal plus noise), and the encoder pays the average KL

.. math:: \mathrm{KL}_k = \tfrac12\big(\mathbb E_n[\mu_k]^2 + \operatorname{Var}_n[\mu_k]
          + \mathbb E_n[\sigma_k^2] - \mathbb E_n[\log\sigma_k^2] - 1\big).

Whatever the encoder, the noise's share of the total variance is at least
:math:`\exp(-2\,\mathrm{KL}/D)`, with :math:`\mathrm{KL} = \sum_k \mathrm{KL}_k` per example
(:attr:`CodeNoise.kl_bound`); the book's chapter "Sampled codes at the paper's sizes"
(``book/sampled_codes.md``) derives it and measures both sides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CodeNoise:
    r"""Per-coordinate moments of a Gaussian encoder's codes over a data set, each (D,).

    Population moments over the examples (``ddof=0``), so that
    :math:`\mathbb E_n[\mu_k^2] = \mathbb E_n[\mu_k]^2 + \operatorname{Var}_n[\mu_k]` holds
    exactly and :attr:`kl` is the mean of the closed-form KL
    (:func:`mvae_lib.objectives.kl_standard_normal`) per coordinate.
    """

    mean: np.ndarray  #: E_n[mu_k]
    signal: np.ndarray  #: Var_n[mu_k]
    noise: np.ndarray  #: E_n[sigma_k^2]
    log_noise: np.ndarray  #: E_n[log sigma_k^2]

    @property
    def total(self) -> np.ndarray:
        r""":math:`\operatorname{Var}_{n,\epsilon}[z_k]`, signal plus noise (the aggregate
        posterior's variance)."""
        return self.signal + self.noise

    @property
    def second_moment(self) -> np.ndarray:
        r""":math:`\mathbb E_{n,\epsilon}[z_k^2] = \mathbb E_n[\mu_k^2 + \sigma_k^2]`."""
        return self.mean**2 + self.signal + self.noise

    @property
    def kl(self) -> np.ndarray:
        r""":math:`\mathrm{KL}_k`, the mean over examples of coordinate k's KL to
        :math:`\mathcal N(0, 1)`, in nats."""
        return 0.5 * (self.second_moment - self.log_noise - 1.0)

    @property
    def noise_share(self) -> float:
        r"""The noise's share of the sampled codes' total variance,
        :math:`\sum_k \mathbb E_n[\sigma_k^2] / \sum_k \operatorname{Var}_{n,\epsilon}[z_k]`."""
        return float(self.noise.sum() / self.total.sum())

    @property
    def kl_bound(self) -> float:
        r"""The lower bound :math:`\exp(-2\,\mathrm{KL}/D)` on :attr:`noise_share`.

        With :math:`T`, :math:`S` and :math:`N` the means over coordinates of
        :attr:`total`, :attr:`second_moment` and :attr:`noise`, and
        :math:`G = \exp(\text{mean of } \mathbb E_n[\log\sigma_k^2])`,

        .. math:: \frac{N}{T} \ \ge\ N e^{1 - T} \ \ge\ G\, e^{1 - T} \ \ge\ G\, e^{1 - S}
                  = e^{-2\,\mathrm{KL}/D},

        by :math:`1/T \ge e^{1-T}` (that is, :math:`\log T \le T - 1`), Jensen's
        inequality for :math:`\exp` (over examples, then over coordinates) and
        :math:`S \ge T`. Equality needs :math:`T = S = 1` and one :math:`\sigma^2` for
        every example and coordinate.
        """
        return float(np.exp(-2.0 * self.kl.mean()))


def code_noise(mu, logvar) -> CodeNoise:
    """:class:`CodeNoise` of posteriors ``mu``, ``logvar`` (arrays or tensors of shape (N, D)),
    computed in float64."""
    mu, logvar = (np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64)
                  for a in (mu, logvar))
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"expected mu and logvar of one shape (N, D); found {mu.shape} and {logvar.shape}")
    return CodeNoise(mean=mu.mean(0), signal=mu.var(0), noise=np.exp(logvar).mean(0),
                     log_noise=logvar.mean(0))
