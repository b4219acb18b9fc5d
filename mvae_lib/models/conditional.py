r"""The conditional VAE (Sohn, Lee & Yan 2015): a specialist for one fixed direction.

A joint model answers every question "the rest, given these modalities" with one set of
weights. A conditional VAE is trained for one: given the observed modalities :math:`o`,
predict the missing ones :math:`t`. Its three networks are a *prior* :math:`p(z \mid o)`,
a *recognition* network :math:`q(z \mid o, t)` and a *generator* :math:`p(t \mid z, o)`,
and it maximises the conditional bound

.. math:: \log p(t \mid o) \;\ge\; \mathbb E_{q(z|o,t)}\big[\log p(t \mid z, o)\big]
          - \mathrm{KL}\big(q(z \mid o, t) \,\|\, p(z \mid o)\big),

the VAE's bound with the prior replaced by a network that reads the observed modalities.
At test time :math:`z \sim p(z \mid o)` and the generator completes :math:`t`. Sohn et al.
add a "GSNN" term that trains the generator on draws of the prior network too; we train
the plain CVAE. The networks have the preset's widths, as every model here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..objectives import reconstruction_terms
from ..posteriors import Gaussian
from .base import GaussianHead, LatentModel, Modality, mlp


class CVAE(nn.Module):
    """A conditional VAE that completes ``targets`` from ``observed`` (module docstring).

    Parameters
    ----------
    modalities : sequence of Modality
        Every modality of the data (the observed and the targets; Bernoulli or Gaussian).
    config : ModelConfig
        Widths of the three MLPs and of ``z``.
    observed : sequence of str
        The modalities it reads; the rest are its targets.
    """

    check_inputs = LatentModel.check_inputs

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, observed: Sequence[str]):
        super().__init__()
        self.modalities = {m.name: m for m in modalities}
        observed = tuple(m for m in self.modalities if m in set(observed))
        if not observed or len(observed) == len(self.modalities) or len(observed) != len(set(observed)):
            raise ValueError(f"a CVAE observes some of {list(self.modalities)} and completes the others; "
                             f"found observed={list(observed)}")
        self.config, self.observed = config, observed
        self.targets = tuple(m for m in self.modalities if m not in observed)
        d_obs = sum(self.modalities[m].dim for m in observed)
        d_all = sum(m.dim for m in modalities)
        hidden = config.hidden
        last = hidden[-1] if hidden else None
        self.prior_net = nn.Sequential(mlp(d_obs, hidden), GaussianHead(last or d_obs, config.latent))
        self.recognition = nn.Sequential(mlp(d_all, hidden), GaussianHead(last or d_all, config.latent))
        self.generator = mlp(config.latent + d_obs, hidden)
        width = last or config.latent + d_obs
        self.heads = nn.ModuleDict({m: nn.Linear(width, self.modalities[m].dim) for m in self.targets})
        for m in self.targets:
            if self.modalities[m].likelihood != "bernoulli":
                raise ValueError(f"this CVAE completes binary modalities; {m!r} is {self.modalities[m].likelihood}")

    @property
    def likelihoods(self) -> dict[str, str]:
        return {m: self.modalities[m].likelihood for m in self.targets}

    def _observed(self, inputs: Mapping[str, Tensor]) -> Tensor:
        return torch.cat([inputs[m] for m in self.observed], -1)

    def prior(self, inputs: Mapping[str, Tensor]) -> Gaussian:
        """:math:`p(z \\mid o)`, reading only the observed modalities."""
        return Gaussian(*self.prior_net(self._observed(inputs)))

    def recognise(self, inputs: Mapping[str, Tensor]) -> Gaussian:
        """:math:`q(z \\mid o, t)`, reading every modality."""
        return Gaussian(*self.recognition(torch.cat([inputs[m] for m in self.modalities], -1)))

    def logits(self, z: Tensor, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The generator's Bernoulli logits of each target for ``z`` of shape (..., B, D)."""
        o = self._observed(inputs)
        h = self.generator(torch.cat([z, o.expand(*z.shape[:-1], o.shape[-1])], -1))
        return {m: head(h) for m, head in self.heads.items()}

    def log_likelihood(self, z: Tensor, inputs: Mapping[str, Tensor]) -> Tensor:
        """:math:`\\log p(t \\mid z, o)` for ``z`` of shape (S, B, D): shape (S, B)."""
        logits = self.logits(z, inputs)
        S = z.shape[0]
        targets = {m: inputs[m].expand(S, *inputs[m].shape) for m in self.targets}
        rec = reconstruction_terms(self.likelihoods, targets, {m: (v,) for m, v in logits.items()})
        return -sum(rec.values())

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative conditional bound; terms ``loss, elbo, kl, rec_<t>`` (batch means)."""
        q, p = self.recognise(inputs), self.prior(inputs)
        z = q.sample()
        logits = self.logits(z, inputs)
        rec = reconstruction_terms(self.likelihoods, inputs, {m: (v,) for m, v in logits.items()})
        kl = q.kl(p)
        rec_sum = sum(rec.values())
        return {"loss": (rec_sum + kl_weight * kl).mean(), "elbo": -(rec_sum + kl).mean(), "kl": kl.mean(),
                **{k: v.mean() for k, v in rec.items()}}

    @torch.no_grad()
    def complete(self, inputs: Mapping[str, Tensor], samples: int = 10,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The targets' pixel probabilities, averaged over ``samples`` draws of :math:`p(z|o)`."""
        z = self.prior(inputs).rsample(samples, generator)                  # (S, B, D)
        return {m: torch.sigmoid(v).mean(0) for m, v in self.logits(z, inputs).items()}

    @torch.no_grad()
    def conditional_log_likelihood(self, inputs: Mapping[str, Tensor], K: int,
                                   generator: torch.Generator | None = None, chunk: int = 100,
                                   ) -> tuple[Tensor, Tensor]:
        """Importance-weighted :math:`\\log p(t \\mid o)` per example and the ESS of its weights.

        The proposal is the defensive mixture :math:`0.9\\, q(z|o,t) + 0.1\\, p(z|o)`, so every
        weight :math:`p(t|z,o)\\,p(z|o)/r(z)` is at most :math:`p(t|z,o)/0.1 \\le 10`: a
        stochastic lower bound whose bias falls as :math:`1/K`.
        """
        from ..iwae import ess, iw_bound, iw_log_weights
        from ..posteriors import Mixture

        q, p = self.recognise(inputs), self.prior(inputs)
        r = Mixture([q, p], (0.9, 0.1))
        log_w = iw_log_weights(lambda z: self.log_likelihood(z, inputs) + p.log_prob(z), r, K, generator, chunk)
        return iw_bound(log_w), ess(log_w)

    def extra_repr(self) -> str:
        return f"observed={list(self.observed)}, targets={list(self.targets)}"

