r"""MMVAE+ (Palumbo, Daunhawer & Vogt 2023): a shared code and one private code per modality.

MMVAE's experts must each put *everything* about every modality into one code, drawn from
one modality; what the other modalities add (a stroke's thickness in the missing quadrant)
cannot be inferred from it, and the decoders average over it: blurred cross-modal
generations. MMVAE+ splits the latent into a shared :math:`z` (what the modalities have in
common) and a private :math:`w_m` per modality (what only :math:`m` shows). The generative
model is

.. math:: p(z) \prod_{m} p(w_m)\, p(x_m \mid z, w_m), \qquad p(z) = \mathcal N(0, I),\;
          p(w_m) = \mathcal N(0, I).

Each modality's encoder gives :math:`q(z \mid x_m)\, q(w_m \mid x_m)`; the shared code's
posterior is MMVAE's mixture :math:`q(z \mid X) = \frac1M \sum_m q(z \mid x_m)`. Training
maximises, for ``K`` draws :math:`(z_k, w_{r,k}) \sim q(z \mid x_r)\, q(w_r \mid x_r)` from
each expert :math:`r` and private codes of the *other* modalities drawn from an auxiliary
distribution, :math:`\tilde w_{d,k} \sim r_d(w_d)`,

.. math:: \mathcal L_{+}(X) &= \frac1M \sum_r \mathbb E\Big[\log \frac1K \sum_k
          \rho_{r,k}\Big], \\
          \rho_{r,k} &= \frac{p(x_r \mid z_k, w_{r,k}) \prod_{d \ne r} p(x_d \mid z_k, \tilde w_{d,k})\;
          p(z_k)\, p(w_{r,k})}{q(z_k \mid X)\, q(w_{r,k} \mid x_r)}.

The auxiliary :math:`r_d = \mathcal N(0, \mathrm{diag}\,s_d^2)` has a learnable scale
:math:`s_d = D_w\,\mathrm{softmax}(\theta_d)` (the authors' parameterisation, starting at
1); because :math:`\tilde w_d` is drawn without looking at :math:`x_d`, the decoder of
:math:`x_d` must get what it needs from :math:`z`, which is what keeps the shared code
shared. :math:`r_d` does not enter the weight (as in the authors' code), so a term is a
bound on a model whose non-expert private codes have the prior :math:`r_d`; with
:math:`r_d = p(w_d)` it is MMVAE's stratified bound on :math:`\log p(X)` over the joint
latent :math:`(z, w_1, \dots, w_M)`.

**In this library** the latent of the model is that joint vector
:math:`u = (z, w_1, \dots, w_M)`: decoder :math:`m` reads :math:`(z, w_m)` from it, and
the prior of :math:`u` is :math:`\mathcal N(0, I)`, so the library's importance-weighted
likelihoods (:mod:`mvae_lib.iwae`) apply unchanged. The posterior given the observed
modalities :math:`O` is the mixture over :math:`r \in O` of :math:`q(z \mid x_r)`, times
:math:`q(w_m \mid x_m)` for the observed and the prior :math:`p(w_m)` for the missing ones
(the authors generate a missing modality with :math:`w_m \sim p(w_m)`). The code a probe
reads (:meth:`MMVAEPlus.code`) is :math:`z` alone.

Ours against theirs (``epalu/mmvaeplus``): Gaussian instead of Laplace distributions (as
every model of this library); ``K = 1`` and the plain importance-weighted objective, as
their PolyMNIST setting (their CUB setting uses K = 10 and DReG); a private code of 8
dimensions per modality beside the shared one (theirs: 32 and 32 on PolyMNIST), for CPU
time.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..objectives import log_standard_normal
from ..posteriors import Gaussian, Mixture
from .base import Modality
from .experts import ExpertsModel


@dataclass(frozen=True)
class MMVAEPlusOptions:
    """MMVAE+'s own settings.

    Attributes
    ----------
    private : int
        Dimensions of each modality's private code :math:`w_m` (the shared :math:`z` has
        the preset's ``latent``). Theirs: 32 (PolyMNIST), 16 (CUB); ours: 8, for CPU time.
    K : int
        Importance samples per expert. Theirs: 1 on PolyMNIST (plain ELBO), 10 on CUB (DReG).
    """

    private: int = 8
    K: int = 1


class PrivateDecoder(nn.Module):
    """Decoder of modality ``m`` on the joint latent ``u``: it reads ``z`` (the first
    ``shared`` coordinates) and ``w_m`` (``width`` coordinates from ``start``)."""

    def __init__(self, inner: nn.Module, shared: int, start: int, width: int):
        super().__init__()
        self.inner, self.shared, self.start, self.width = inner, shared, start, width

    def forward(self, u: Tensor):
        return self.inner(torch.cat([u[..., :self.shared], u[..., self.start:self.start + self.width]], -1))


class MMVAEPlus(ExpertsModel):
    r"""MMVAE+: per-modality experts of a shared and a private code, the auxiliary-prior objective.

    With ``K`` draws :math:`(z_k, w_{r,k}) \sim q(z|x_r)\,q(w_r|x_r)` per expert :math:`r`
    and :math:`\tilde w_{d,k} \sim r_d` for the other modalities, training maximises

    .. math:: \mathcal L_{+}(X) &= \frac1M \sum_r \mathbb E\Big[\log \frac1K \sum_k
              \rho_{r,k}\Big], \\
              \rho_{r,k} &= \frac{p(x_r|z_k, w_{r,k}) \prod_{d \ne r} p(x_d|z_k, \tilde w_{d,k})\,
              p(z_k)\, p(w_{r,k})}{q(z_k|X)\, q(w_{r,k}|x_r)},

    a bound on :math:`\log p(X)` when :math:`r_d = p(w_d)` (the module docstring says what it
    bounds otherwise). Derived in the book's chapter "Four modalities"
    (``book/quadrants.md``). The model's latent is :math:`u = (z, w_1, \dots, w_M)`;
    :meth:`code` returns :math:`z`.
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, private: int = MMVAEPlusOptions.private,
                 K: int = MMVAEPlusOptions.K):
        if len(modalities) < 2:
            raise ValueError(f"MMVAE+ reads two or more modalities; found {len(modalities)}")
        if private < 1 or K < 1:
            raise ValueError(f"private (dimensions of w_m) and K must be >= 1; found private={private}, K={K}")
        super().__init__(modalities, replace(config, latent=config.latent + private))
        self.config = config
        self.shared, self.private, self.K = config.latent, private, K
        names = list(self.modalities)
        self.decoders = nn.ModuleDict({
            m: PrivateDecoder(self.decoders[m], self.shared, self.shared + i * private, private)
            for i, m in enumerate(names)})
        # theta of the auxiliary scales, s_d = D_w softmax(theta_d), one row per modality (s = 1 at the start)
        self.aux_theta = nn.Parameter(torch.zeros(len(names), private))

    @property
    def latent_dim(self) -> int:
        """Dimensions of the joint latent :math:`u = (z, w_1, \\dots, w_M)`."""
        return self.shared + len(self.modalities) * self.private

    def split_expert(self, inputs, m: str) -> tuple[Gaussian, Gaussian]:
        """:math:`q(z \\mid x_m)` and :math:`q(w_m \\mid x_m)` of modality ``m``."""
        q = self.encoders[m](inputs)
        D = self.shared
        return Gaussian(q.mu[..., :D], q.logvar[..., :D]), Gaussian(q.mu[..., D:], q.logvar[..., D:])

    def auxiliary(self, m: str, like: Tensor) -> Gaussian:
        """The auxiliary :math:`r_m(w_m) = \\mathcal N(0, \\mathrm{diag}\\,s_m^2)`, batch shape of ``like``."""
        i = list(self.modalities).index(m)
        scale = torch.softmax(self.aux_theta[i], -1) * self.private
        logvar = 2 * torch.log(scale)
        return Gaussian(torch.zeros(*like.shape[:-1], self.private, device=like.device),
                        logvar.expand(*like.shape[:-1], self.private))

    def posterior(self, inputs, given=None) -> Gaussian | Mixture:
        """The posterior of :math:`u` given the modalities ``given`` (module docstring)."""
        given = self.given(given)
        experts = {m: self.split_expert(inputs, m) for m in given}
        like = experts[given[0]][0].mu
        zeros = torch.zeros(*like.shape[:-1], self.private, device=like.device)
        w_mu = [experts[m][1].mu if m in experts else zeros for m in self.modalities]
        w_lv = [experts[m][1].logvar if m in experts else zeros for m in self.modalities]
        parts = [Gaussian(torch.cat([experts[m][0].mu, *w_mu], -1), torch.cat([experts[m][0].logvar, *w_lv], -1))
                 for m in given]
        return parts[0] if len(parts) == 1 else Mixture(parts)

    def code(self, inputs, mode="sample", generator=None, given=None) -> Tensor:
        """The shared code :math:`z` (a draw of its posterior, or its mean), shape (B, latent)."""
        return super().code(inputs, mode, generator, given)[..., :self.shared]

    def joint_code(self, inputs: Mapping[str, Tensor], mode: str = "sample",
                   generator: torch.Generator | None = None) -> Tensor:
        """A shared code that reads every modality: the mean of one draw of :math:`q(z|x_m)`
        per modality (``mode="sample"``) or of their means, as :meth:`MMVAE.joint_code`."""
        qs = [self.split_expert(inputs, m)[0] for m in self.modalities]
        if mode == "mean":
            return torch.stack([q.mu for q in qs]).mean(0)
        if mode != "sample":
            raise ValueError(f"mode must be 'sample' or 'mean', found {mode!r}")
        return torch.stack([q.rsample(1, generator)[0] for q in qs]).mean(0)

    def objective_terms(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0,
                        ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Per example: the training objective (``kl_weight`` on the log-ratio of priors to
        posteriors), the objective :math:`\\mathcal L_+` itself, and the reconstruction terms."""
        names = list(self.modalities)
        experts = {m: self.split_expert(inputs, m) for m in names}
        q_mix = Mixture([experts[m][0] for m in names])
        objectives, bounds = [], []
        rec_sums: dict[str, Tensor] = {}
        for r in names:
            q_z, q_w = experts[r]
            z, w_r = q_z.rsample(self.K), q_w.rsample(self.K)                          # (K, B, Dz), (K, B, Dw)
            ws = [w_r if d == r else self.auxiliary(d, w_r).rsample(1)[0] for d in names]
            u = torch.cat([z, *ws], -1)                                                 # (K, B, latent_dim)
            log_lik = self.log_likelihoods(u, inputs)                                   # {m: (K, B)}
            log_ratio = log_standard_normal(z) + log_standard_normal(w_r) - q_mix.log_prob(z) - q_w.log_prob(w_r)
            total = sum(log_lik.values())
            log_k = math.log(self.K)
            bounds.append(torch.logsumexp(total + log_ratio, 0) - log_k)
            objectives.append(torch.logsumexp(total + kl_weight * log_ratio, 0) - log_k)
            for m, ll in log_lik.items():
                rec_sums[f"rec_{m}"] = rec_sums.get(f"rec_{m}", 0.0) - ll.detach().mean(0) / len(names)
        return torch.stack(objectives).mean(0), torch.stack(bounds).mean(0), rec_sums

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative :math:`\\mathcal L_+`; terms ``loss, elbo`` (the objective) and ``rec_<m>``."""
        objective, bound, rec = self.objective_terms(inputs, kl_weight)
        out = {k: v.mean() for k, v in rec.items()}
        out["loss"], out["elbo"] = -objective.mean(), bound.mean()
        return out

    def extra_repr(self) -> str:
        return f"shared={self.shared}, private={self.private}, K={self.K}"
