r"""The paper's four models (Suzuki & Matsuo 2016, section 4.2): AE and VAE read one input
(settings 1-2), MAE and MVAE read the image and its tags as two modalities (settings 3-4)."""
from __future__ import annotations

from collections.abc import Sequence

from ..config import ModelConfig
from .base import Autoencoder, Modality, VariationalModel


class AE(Autoencoder):
    r"""Single-input autoencoder (settings 1-2): the VAE's networks with a deterministic code.

    Trained on the reconstruction loss :math:`\ell(x) = -\log p(x \mid f(x))`; derived in the
    chapter "Autoencoders".
    """

    def __init__(self, modality: Modality, config: ModelConfig):
        super().__init__([modality], config)


class VAE(VariationalModel):
    r"""Single-input VAE (settings 1-2), Kingma & Welling 2014; the paper's eq. 2-3.

    .. math:: \mathcal L(x) = \mathbb E_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x) \,\|\, p(z))
              \le \log p(x)

    Derived in the chapter "The VAE and its lower bound".
    """

    def __init__(self, modality: Modality, config: ModelConfig):
        super().__init__([modality], config)


class MAE(Autoencoder):
    r"""Multimodal autoencoder of Ngiam et al. 2011 with the MVAE's shape (settings 3-4).

    Trained on :math:`\ell(x, w) = -\log p(x \mid f(x, w)) - \log p(w \mid f(x, w))`; the
    chapter "Autoencoders".
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config)


class MVAE(VariationalModel):
    r"""Multimodal VAE of Suzuki & Matsuo 2016: joint encoder :math:`q(z|x,w)`, decoders
    :math:`p(x|z)`, :math:`p(w|z)`, trained on the paper's eq. 6,

    .. math:: \mathcal L(x, w) = \mathbb E_{q(z|x,w)}\big[\log p(x|z) + \log p(w|z)\big]
              - \mathrm{KL}\big(q(z|x,w) \,\|\, p(z)\big) \le \log p(x, w).

    Derived in the chapter "The multimodal VAE".
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config)
