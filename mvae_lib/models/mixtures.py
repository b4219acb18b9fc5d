r"""Mixtures of experts: MMVAE (Shi et al. 2019) and MoPoE (Sutter, Daunhawer & Vogt 2021).

Both keep one encoder (expert) per modality, as the product of experts does, but combine
them by *averaging* densities instead of multiplying them.

**MMVAE.** The joint posterior is the uniform mixture of the unimodal experts,
:math:`q(z|x,w) = \tfrac12 q(z|x) + \tfrac12 q(z|w)`, and training maximises the
*stratified* importance-weighted bound: :math:`K` samples from every expert,

.. math:: \mathcal L_{\mathrm{MM}}(x, w) = \frac1M \sum_{m=1}^{M}
          \mathbb E_{z_{1:K} \sim q(z|m)} \Big[\log \frac1K \sum_{k=1}^K
          \frac{p(z_k)\, p(x|z_k)\, p(w|z_k)}{q(z_k|x,w)}\Big],

a lower bound on :math:`\log p(x, w)`: for each expert, Jensen's inequality bounds the
inner term by :math:`\log \mathbb E_{q(z|m)}[p(x,w,z)/q(z|x,w)]`, and by the concavity of the
log the mean of these over :math:`m` is at most :math:`\log \mathbb E_{q(z|x,w)}[p(x,w,z)/q(z|x,w)]
= \log p(x, w)`. (An inner term is not a bound on its own: it samples from :math:`q(z|m)`
but divides by the mixture.) Every expert must reconstruct *every* modality from its own sample, which is what
makes :math:`q(z|x)` usable alone. :math:`K = 4` here (theirs: 30 on MNIST-SVHN; ours is
for CPU time); the gradient is the plain reparameterised one (their code also offers the
DReG estimator, which lowers the variance of the encoder's gradient; we do not use it).
Their experts are Laplace distributions; ours are the paper's Gaussian heads, as in every
model of this library. With :math:`K = 1` and one expert the bound is the VAE's.

**MoPoE.** The joint posterior is the uniform mixture, over the non-empty subsets
:math:`s` of the modalities, of the product of the experts in :math:`s`:
:math:`q(z|x,w) = \tfrac13\big[q(z|x) + q(z|w) + q_{\mathrm{PoE}}(z|x,w)\big]`. Training
maximises the average of the subsets' bounds, each reconstructing every modality,

.. math:: \mathcal L_{\mathrm{MoPoE}}(x, w) = \frac{1}{|S|} \sum_{s \in S}
          \Big(\mathbb E_{q_s}\big[\log p(x|z) + \log p(w|z)\big] - \mathrm{KL}(q_s \,\|\, p)\Big),

which lower-bounds the bound of the mixture because the KL is convex (their Lemma). The
products here have no prior expert (the authors' code makes that a flag), so the subset
:math:`\{x\}` is :math:`q(z|x)` itself. With one modality the objective is the VAE's.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import torch
from torch import Tensor

from dataclasses import dataclass

from ..config import ModelConfig
from ..objectives import log_standard_normal, reconstruction_terms
from ..posteriors import Gaussian, Mixture, product_of_experts
from .base import LatentModel, Modality
from .experts import ExpertsModel, subset_elbo_terms


@dataclass(frozen=True)
class MMVAEOptions:
    """MMVAE's own settings.

    Attributes
    ----------
    K : int
        Importance samples per expert in the stratified bound. Shi et al. (2019) use 30 on
        MNIST-SVHN; ours is 4, for CPU time.
    """

    K: int = 4


DEFAULT_K = MMVAEOptions.K

#: MoPoE's estimators of its objective (:class:`MoPoEOptions`).
MOPOE_ESTIMATORS = ("subsample", "average")


@dataclass(frozen=True)
class MoPoEOptions:
    """MoPoE's own settings.

    Attributes
    ----------
    estimator : str
        How a training step estimates the average of the subsets' bounds.
        ``"subsample"`` (the default, the authors' code: ``mixture_component_selection`` in
        thomassutter/MoPoE gives each example of the batch one subset's posterior, all the
        modalities are decoded from that one draw, and the KL term is the mean of every
        subset's KL to the prior): one decoder pass per modality, as the MVAE.
        ``"average"``: a draw from every subset, each decoded, the bounds averaged: the
        same expected objective with less variance, at :math:`2^M - 1` decoder passes
        per modality.
    """

    estimator: str = "subsample"

    def __post_init__(self):
        if self.estimator not in MOPOE_ESTIMATORS:
            raise ValueError(f"MoPoE estimator must be one of {MOPOE_ESTIMATORS}; found {self.estimator!r}")


def stratified_iw_bound(model: LatentModel, q: Mixture, inputs: Mapping[str, Tensor], K: int,
                        kl_weight: float = 1.0) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """The stratified importance-weighted bound of MMVAE, one value per example.

    Returns the training objective (with ``kl_weight`` on :math:`\\log p(z) - \\log q(z)`,
    the analogue of KL warm-up), the bound itself (weight 1), and the reconstruction
    terms averaged over the samples (for reporting).
    """
    bounds, objectives = [], []
    rec_sums: dict[str, Tensor] = {}
    for expert in q.components:
        z = expert.rsample(K)                                        # (K, B, D)
        log_lik = model.log_likelihoods(z, inputs)                    # {m: (K, B)}
        log_ratio = log_standard_normal(z) - q.log_prob(z)          # log p(z) - log q(z|x,w), (K, B)
        total = sum(log_lik.values())
        log_k = math.log(K)
        bounds.append(torch.logsumexp(total + log_ratio, 0) - log_k)
        objectives.append(torch.logsumexp(total + kl_weight * log_ratio, 0) - log_k)
        for m, ll in log_lik.items():  # per-modality reconstruction, for the history only
            rec_sums[f"rec_{m}"] = rec_sums.get(f"rec_{m}", 0.0) - ll.detach().mean(0) / len(q.components)
    return torch.stack(objectives).mean(0), torch.stack(bounds).mean(0), rec_sums


class MMVAE(ExpertsModel):
    r"""Mixture-of-experts multimodal VAE: one encoder per modality, the stratified IW bound.

    The joint posterior is the uniform mixture :math:`q(z|x,w) = \frac1M \sum_m q(z|m)` of
    the :math:`M` unimodal experts. Training draws ``K`` samples (default 4, :class:`MMVAEOptions`) from *every*
    expert and maximises

    .. math:: \mathcal L_{\mathrm{MM}}(x, w) = \frac1M \sum_{m=1}^{M}
              \mathbb E_{z_{1:K} \sim q(z|m)} \Big[\log \frac1K \sum_{k=1}^K
              \frac{p(x, w, z_k)}{q(z_k|x,w)}\Big] \;\le\; \log p(x, w).

    Why a bound: write :math:`r(z) = p(x, w, z) / q(z|x,w)`. By Jensen's inequality the
    term of expert :math:`m` is at most :math:`\log \mathbb E_{q(z|m)}[r(z)]`;
    the mean over :math:`m` of these logarithms is at most the logarithm of their mean
    (the logarithm is concave); and :math:`\frac1M \sum_m \mathbb E_{q(z|m)}[r(z)]
    = \mathbb E_{q(z|x,w)}[r(z)] = p(x, w)`. The term of one expert is not, on its own, a
    bound on :math:`\log p(x, w)`: its samples come from :math:`q(z|m)`, its weights are
    computed against the mixture. At ``K = 1`` the bound is the mixture's ELBO; for ``K > 1``
    it is not the importance-weighted bound whose proposal is the mixture, and as ``K`` grows
    it tends to :math:`\frac1M \sum_m \log \mathbb E_{q(z|m)}[p(x,w,z)/q(z|x,w)]`, below
    :math:`\log p(x, w)` unless that expectation is the same for every expert. Derived, and
    checked on a model with an exact likelihood, in the book's chapter "Encoders for every
    subset" (``book/subsets.md``).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, K: int = DEFAULT_K):
        if K < 1:
            raise ValueError(f"K (importance samples per expert) must be >= 1; found {K}")
        super().__init__(modalities, config)
        self.K = K

    def posterior(self, inputs, given=None) -> Gaussian | Mixture:
        experts = self.experts(inputs, given)
        return experts[0] if len(experts) == 1 else Mixture(experts)

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative stratified IW bound; terms ``loss, elbo`` (the bound) and ``rec_<m>``."""
        objective, bound, rec = stratified_iw_bound(self, Mixture(self.experts(inputs)), inputs, self.K,
                                                    kl_weight)
        out = {k: v.mean() for k, v in rec.items()}
        out["loss"], out["elbo"] = -objective.mean(), bound.mean()
        return out

    def joint_code(self, inputs: Mapping[str, Tensor], mode: str = "sample",
                   generator: torch.Generator | None = None) -> Tensor:
        r"""A code that reads every modality of ``inputs`` at once, shape (B, latent).

        MMVAE has no posterior that combines the experts (a draw of its mixture comes from
        one expert), so this is not a posterior of the model: ``mode="mean"`` gives the
        mixture's mean :math:`\frac1M \sum_m \mu_m`; ``mode="sample"`` the average of one
        draw from each expert, :math:`\frac1M \sum_m z_m` with :math:`z_m \sim q(z|m)`,
        whose mean is the mixture's mean: a random code, as the other models' sampled codes
        are (the mean alone would be compared with their samples). Used by Table 3 (its
        column "LRAP, x and w, one code").
        """
        experts = self.experts(inputs)
        if mode == "mean":
            return torch.stack([q.mu for q in experts]).mean(0)
        if mode != "sample":
            raise ValueError(f"mode must be 'sample' or 'mean', found {mode!r}")
        return torch.stack([q.rsample(1, generator)[0] for q in experts]).mean(0)  # (M, B, D) -> (B, D)

    def extra_repr(self) -> str:
        return f"K={self.K}"


class MoPoE(ExpertsModel):
    r"""Mixture of products of experts: every non-empty subset's product, mixed uniformly.

    With :math:`S` the non-empty subsets of the modalities and :math:`q_s` the product of
    the experts in :math:`s` (no prior expert), the joint posterior is
    :math:`q(z|x,w) = \frac{1}{|S|} \sum_{s \in S} q_s(z)`. Training maximises the average
    of the subsets' bounds, each reconstructing every modality,

    .. math:: \mathcal L_{\mathrm{MoPoE}}(x, w)
              &= \frac{1}{|S|} \sum_{s \in S} \Big(\mathbb E_{q_s}\big[\log p(x|z) + \log p(w|z)\big]
              - \mathrm{KL}(q_s \,\|\, p)\Big) \\
              &\le \log p(x, w),

    a bound because the KL is convex in its first argument: the average of the subsets'
    KLs is at least the KL of their mixture, so :math:`\mathcal L_{\mathrm{MoPoE}}` is at
    most the mixture's own bound. A training step estimates it as the authors' code does
    (``estimator="subsample"``, :class:`MoPoEOptions`): each example draws one subset, its
    :math:`z` comes from that subset's product, every modality is decoded from it, and the
    KL term is the mean of all the subsets' KLs; in expectation over the draw of the subset
    this is :math:`\mathcal L_{\mathrm{MoPoE}}`. Derived in the book's chapter "Encoders
    for every subset" (``book/subsets.md``).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig,
                 estimator: str = MoPoEOptions.estimator):
        MoPoEOptions(estimator)  # checks it
        super().__init__(modalities, config)
        self.estimator = estimator
        names = [m.name for m in modalities]
        self.subsets = [s for r in range(1, len(names) + 1) for s in combinations(names, r)]

    def subset_posterior(self, inputs, subset, experts: Mapping[str, Gaussian] | None = None) -> Gaussian:
        """:math:`q_s`: the product of the experts of the modalities in ``subset`` (no prior
        expert; a single modality's expert itself). ``experts``: the experts already computed,
        by modality (default: computed here)."""
        if experts is None:
            found = self.experts(inputs, subset)
        else:
            found = [experts[m] for m in self.given(subset)]
        return found[0] if len(found) == 1 else product_of_experts(found, prior=False)

    def all_subset_posteriors(self, inputs: Mapping[str, Tensor]) -> Gaussian:
        """Every subset's product at once, stacked in the order of ``subsets``: mu and logvar
        of shape (S, B, D). The same products as :meth:`mvae_lib.MoPoE.subset_posterior` (precisions add),
        computed with one matrix product over a 0/1 membership matrix."""
        experts = self.experts(inputs)
        names = list(self.modalities)
        member = torch.tensor([[float(m in s) for m in names] for s in self.subsets],
                              device=experts[0].mu.device)              # (S, M)
        mu = torch.stack([e.mu for e in experts])                      # (M, B, D)
        precision = torch.exp(-torch.stack([e.logvar for e in experts]))
        total = torch.einsum("sm,mbd->sbd", member, precision)         # (S, B, D)
        mean = torch.einsum("sm,mbd->sbd", member, precision * mu) / total
        return Gaussian(mean, -torch.log(total))

    def joint_code(self, inputs: Mapping[str, Tensor], mode: str = "sample",
                   generator: torch.Generator | None = None) -> Tensor:
        """A code of every modality of ``inputs`` at once, shape (B, latent): a draw (or the
        mean) of the product of all the experts, the posterior of the full subset, a true
        posterior of the model (a draw of the mixture comes from one subset only). Used by
        Table 3 (its column "LRAP, x and w, one code")."""
        q = self.subset_posterior(inputs, tuple(self.modalities))
        if mode == "mean":
            return q.mean
        if mode != "sample":
            raise ValueError(f"mode must be 'sample' or 'mean', found {mode!r}")
        return q.rsample(1, generator)[0]

    def posterior(self, inputs, given=None) -> Gaussian | Mixture:
        given = self.given(given)
        experts = dict(zip(given, self.experts(inputs, given)))  # each once, for every subset
        parts = [self.subset_posterior(inputs, s, experts) for s in self.subsets if set(s) <= set(given)]
        return parts[0] if len(parts) == 1 else Mixture(parts)

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative average of the subsets' bounds, estimated as ``estimator`` says
        (:class:`MoPoEOptions`); terms ``loss, elbo, kl, rec_<m>`` (batch means)."""
        if self.estimator == "average":
            return self._averaged_loss(inputs, kl_weight)
        q = self.all_subset_posteriors(inputs)                          # (S, B, D) each
        S, B, D = q.mu.shape
        pick = torch.randint(S, (B,), device=q.mu.device) if S > 1 else \
            torch.zeros(B, dtype=torch.long, device=q.mu.device)        # one subset per example
        rows = torch.arange(B, device=q.mu.device)
        z = Gaussian(q.mu[pick, rows], q.logvar[pick, rows]).sample()   # (B, D)
        rec = reconstruction_terms(self.likelihoods, inputs, self.decode(z))
        kl = q.kl_to_prior().mean(0)                                    # (B,) the subsets' mean KL
        rec_sum = sum(rec.values())
        return {"loss": (rec_sum + kl_weight * kl).mean(), "elbo": -(rec_sum + kl).mean(), "kl": kl.mean(),
                **{k: v.mean() for k, v in rec.items()}}

    def _averaged_loss(self, inputs: Mapping[str, Tensor], kl_weight: float) -> dict[str, Tensor]:
        """Every subset's bound, each with its own draw, averaged (``estimator="average"``)."""
        loss = elbo = kl_mean = 0.0
        rec_means: dict[str, Tensor] = {}
        for subset in self.subsets:
            rec, kl = subset_elbo_terms(self, self.subset_posterior(inputs, subset), inputs, self.modalities)
            rec_sum = sum(rec.values())
            loss = loss + (rec_sum + kl_weight * kl).mean() / len(self.subsets)
            elbo = elbo - (rec_sum + kl).mean() / len(self.subsets)
            kl_mean = kl_mean + kl.mean() / len(self.subsets)
            for k, v in rec.items():
                rec_means[k] = rec_means.get(k, 0.0) + v.mean() / len(self.subsets)
        return {"loss": loss, "elbo": elbo, "kl": kl_mean, **rec_means}

    def extra_repr(self) -> str:
        return f"estimator={self.estimator!r}"
