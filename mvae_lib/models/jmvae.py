r"""JMVAE-kl (Suzuki, Nakayama & Matsuo 2016): the MVAE plus one encoder per modality.

The MVAE's joint encoder :math:`q(z|x,w)` cannot read an image without its tags. JMVAE-kl
keeps it, adds unimodal encoders :math:`q(z|x)` and :math:`q(z|w)`, and pulls each towards
the joint one while the whole model trains on

.. math:: \mathcal L_{\mathrm{JM}}(x, w) = \mathcal L(x, w)
          - \alpha\,\big[\mathrm{KL}\big(q(z|x,w) \,\|\, q(z|x)\big)
                        + \mathrm{KL}\big(q(z|x,w) \,\|\, q(z|w)\big)\big],

where :math:`\mathcal L(x, w)` is the MVAE's bound (paper eq. 6). The penalty is a closed-form
KL between two diagonal Gaussians (:meth:`mvae_lib.posteriors.Gaussian.kl`). With
:math:`\alpha = 0` the objective is the MVAE's (the unimodal encoders then get no gradient).
An image alone is encoded by :math:`q(z|x)`; the tags are never read.

:math:`\alpha`: the JMVAE paper compares :math:`\alpha \in \{0.01, 0.1, 1\}` on MNIST; the
authors' code (masa-su/jmvae) defaults its penalty weight to 1. We take 0.1, the middle of
the paper's range, and the book sweeps it. The penalty is not annealed: KL warm-up weights
only the prior's KL term.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor

from ..config import ModelConfig
from ..objectives import negative_elbo, reconstruction_terms
from .base import Modality, VariationalModel


@dataclass(frozen=True)
class JMVAEOptions:
    """JMVAE-kl's own settings.

    Attributes
    ----------
    alpha : float
        Weight of the KL penalty. The JMVAE paper compares 0.01, 0.1 and 1 on MNIST (cited
        from memory: the paper could not be opened here); the authors' code (masa-su/jmvae)
        defaults it to 1. Ours: 0.1, the middle of that range; the book sweeps it.
    """

    alpha: float = 0.1


DEFAULT_ALPHA = JMVAEOptions.alpha


class JMVAE(VariationalModel):
    r"""JMVAE-kl: joint encoder ``"x+w"``, unimodal encoders ``"x"`` and ``"w"``, the MVAE's decoders.

    The MVAE's bound :math:`\mathcal L(x, w)` minus a penalty, weighted by ``alpha``
    (default 0.1, :class:`JMVAEOptions`), that pulls each unimodal encoder towards the joint one:

    .. math:: \mathcal L_{\mathrm{JM}}(x, w)
              &= \mathcal L(x, w) - \alpha\,\big[\mathrm{KL}\big(q(z|x,w) \,\|\, q(z|x)\big) \\
              &\qquad + \mathrm{KL}\big(q(z|x,w) \,\|\, q(z|w)\big)\big] \\
              &\le \mathcal L(x, w) \;\le\; \log p(x, w).

    An image alone is encoded by :math:`q(z|x)`. Derived in the book's chapter "Encoders
    for every subset" (``book/subsets.md``).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, alpha: float = DEFAULT_ALPHA):
        if len(modalities) < 2:
            raise ValueError(f"JMVAE reads two or more modalities; found {len(modalities)}")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0 (the weight of the KL penalty); found {alpha}")
        names = [m.name for m in modalities]
        super().__init__(modalities, config, encoders=[names] + [[m] for m in names])
        self.alpha = alpha

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative JMVAE-kl objective; terms ``loss, elbo, kl, rec_<m>, kl_<m>`` (batch means).

        ``elbo`` is the joint bound :math:`\\mathcal L(x, w)`; ``kl_<m>`` is
        :math:`\\mathrm{KL}(q(z|x,w) \\| q(z|m))`.
        """
        q = self.encode(inputs)
        terms = reconstruction_terms(self.likelihoods, inputs, self.decode(q.sample()))
        out = negative_elbo(terms, q.kl_to_prior(), kl_weight)
        penalty = 0.0
        for m in self.modalities:
            kl_m = q.kl(self.encode(inputs, m))
            out[f"kl_{m}"] = kl_m.mean()
            penalty = penalty + kl_m.mean()
        out["loss"] = out["loss"] + self.alpha * penalty
        return out

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
