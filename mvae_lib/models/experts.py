r"""PoE-MVAE (Wu & Goodman 2018): the joint posterior as a product of unimodal experts.

Each modality has its own encoder, an *expert* :math:`q_m(z) = q(z|m)`; the posterior given
any subset :math:`s` of the modalities is the product of the prior and the experts in it,

.. math:: q(z \mid s) \;\propto\; p(z) \prod_{m \in s} q_m(z),

in closed form for Gaussians (precisions add; :func:`mvae_lib.posteriors.product_of_experts`).
So an image alone is encoded by :math:`p(z)\,q_x(z)`, and the tags are never read.
Training sums the bounds of the full set and of every single modality (their sub-sampled
objective; with two modalities that is every non-empty subset):

.. math:: \mathcal L_{\mathrm{PoE}}(x, w) = \mathcal L(x, w) + \mathcal L(x) + \mathcal L(w),
          \qquad \mathcal L(s) = \mathbb E_{q(z|s)}\Big[\sum_{m \in s} \log p(m|z)\Big]
          - \mathrm{KL}\big(q(z|s) \,\|\, p(z)\big),

each a lower bound on :math:`\log p(s)`; :math:`\mathcal L(x)` reconstructs only :math:`x`.
With more than two modalities the sum also takes ``subsets`` random subsets of the others
(sizes 2 to M - 1), drawn afresh for every mini-batch (:class:`PoEOptions`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import Tensor

from ..config import ModelConfig
from ..objectives import reconstruction_terms
from ..posteriors import Gaussian, product_of_experts
from .base import LatentModel, Modality, VariationalModel


def subset_elbo_terms(model: LatentModel, q: Gaussian, inputs: Mapping[str, Tensor], targets: Iterable[str],
                      ) -> tuple[dict[str, Tensor], Tensor]:
    """One-sample terms of :math:`\\mathbb E_q[\\sum_{m} \\log p(m|z)] - \\mathrm{KL}(q \\| p)`:
    the per-example reconstruction terms ``{"rec_<m>": ...}`` of ``targets`` and the KL."""
    z = q.rsample(1)[0]  # (B, D)
    targets = list(targets)
    params = {m: model.decoders[m](z) for m in targets}
    rec = reconstruction_terms({m: model.likelihoods[m] for m in targets}, inputs, params)
    return rec, q.kl_to_prior()


class ExpertsModel(VariationalModel):
    """A variational model with one encoder (expert) per modality and no joint network
    (PoE, MMVAE, MoPoE): it conditions on any non-empty subset of the modalities, and
    :meth:`posterior` says how the experts of a subset are combined."""

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config, encoders=[[m.name] for m in modalities])

    def experts(self, inputs, given=None) -> list[Gaussian]:
        """:math:`q(z|m)` of each modality in ``given`` (default: all), reading only those."""
        return [self.encoders[m](inputs) for m in self.given(given)]

    def can_condition_on(self, given) -> bool:
        return bool(self.given(given))

    def posterior(self, inputs, given=None):
        raise NotImplementedError

    def encode(self, inputs, encoder=None) -> Gaussian:
        """The posterior given every modality (``encoder`` None), or the expert ``encoder``,
        where it is Gaussian."""
        if encoder is not None:
            return self.encoders[encoder](inputs)
        q = self.posterior(inputs)
        if not isinstance(q, Gaussian):
            raise ValueError(f"{type(self).__name__}'s joint posterior is a mixture: use posterior(), not encode()")
        return q


@dataclass(frozen=True)
class PoEOptions:
    """The product of experts' own settings.

    Attributes
    ----------
    subsets : int
        With M > 2 modalities, how many random subsets of sizes 2 to M - 1 join the full set
        and the single modalities in the objective, drawn afresh for every mini-batch. Wu &
        Goodman's code (``celeba19/train.py``, ``--approx-m``, "number of ELBO terms to approx.
        the full MVAE objective") defaults it to 1, as does MultiVae's ``MVAEConfig.k``. With
        two modalities there are no such subsets and it changes nothing.
    """

    subsets: int = 1


class PoEMVAE(ExpertsModel):
    r"""Product-of-experts MVAE: encoders ``"x"`` and ``"w"``, the prior as a third expert.

    Given a subset :math:`s` of the modalities the posterior is
    :math:`q(z|s) \propto p(z) \prod_{m \in s} q_m(z)`, a Gaussian
    (:func:`mvae_lib.product_of_experts`). Training maximises the sum of the bounds of the
    full set and of each modality alone,

    .. math:: \mathcal L_{\mathrm{PoE}}(x, w) &= \mathcal L(x, w) + \mathcal L(x) + \mathcal L(w), \\
              \mathcal L(s) &= \mathbb E_{q(z|s)}\Big[\sum_{m \in s} \log p(m|z)\Big]
              - \mathrm{KL}\big(q(z|s) \,\|\, p(z)\big) \;\le\; \log p(s).

    With :math:`M > 2` modalities the sum also takes ``subsets`` random subsets of sizes 2
    to :math:`M - 1` (default 1, :class:`PoEOptions`), drawn afresh for every mini-batch:
    Wu & Goodman's sub-sampled objective, a sum of bounds on the log-likelihoods of
    several subsets (not itself a bound on :math:`\log p` of all the modalities).

    Derived in the book's chapter "Encoders for every subset" (``book/subsets.md``).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, subsets: int = PoEOptions.subsets):
        if len(modalities) < 2:
            raise ValueError(f"PoE reads two or more modalities; found {len(modalities)}")
        if subsets < 0:
            raise ValueError(f"subsets (random subsets per mini-batch) must be >= 0; found {subsets}")
        super().__init__(modalities, config)
        self.n_subsets = subsets
        names = list(self.modalities)
        #: The subsets of sizes 2 to M - 1, from which ``subsets`` are drawn per mini-batch.
        self.middle = [s for r in range(2, len(names)) for s in combinations(names, r)]

    def training_subsets(self) -> list[tuple[str, ...]]:
        """The subsets of one step's objective: all, each modality, and the random ones."""
        drawn = []
        if self.middle and self.n_subsets:
            picks = torch.randint(len(self.middle), (self.n_subsets,)).tolist()
            drawn = [self.middle[i] for i in picks]
        return [tuple(self.modalities)] + [(m,) for m in self.modalities] + drawn

    def posterior(self, inputs, given=None) -> Gaussian:
        return product_of_experts(self.experts(inputs, given), prior=True)

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative sum of the bounds of ``(x, w)``, ``x`` and ``w`` (and of the random
        subsets, :meth:`training_subsets`).

        Terms (batch means): ``loss``; ``elbo``, ``kl``, ``rec_<m>`` of the joint bound;
        ``elbo_<m>`` of each single-modality bound.
        """
        out: dict[str, Tensor] = {}
        total = 0.0
        for subset in self.training_subsets():
            rec, kl = subset_elbo_terms(self, self.posterior(inputs, subset), inputs, subset)
            rec_sum = sum(rec.values())
            total = total + (rec_sum + kl_weight * kl).mean()
            elbo = -(rec_sum + kl).mean()
            if len(subset) == len(self.modalities):
                out.update({k: v.mean() for k, v in rec.items()})
                out["kl"], out["elbo"] = kl.mean(), elbo
            elif len(subset) == 1:
                out[f"elbo_{subset[0]}"] = elbo
        out["loss"] = total
        return out
