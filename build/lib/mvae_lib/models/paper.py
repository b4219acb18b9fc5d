r"""The paper's four models (Suzuki & Matsuo 2016, section 4.2): AE, VAE, MAE and MVAE.

AE and VAE read one input (settings 1-2), MAE and MVAE read the image and its tags as two modalities (settings 3-4)."""
from __future__ import annotations

from collections.abc import Sequence

from ..config import ModelConfig
from .base import Autoencoder, Modality, VariationalModel


class AE(Autoencoder):
    r"""Single-input autoencoder (settings 1-2): the same networks, a deterministic code.

    The code is :math:`z = f(x)`, with no sampling, and training minimises the negative
    log-likelihood of the input under the decoder (Gaussian for real-valued ``x``):

    .. math:: \mathcal J_{\mathrm{AE}}(x) = -\log p\big(x \mid z = f(x)\big).

    A reconstruction loss, not a bound: an autoencoder has no prior over :math:`z`, so it
    defines no :math:`p(x)`. Derived in the book's chapter "From autoencoders to multimodal
    autoencoders" (``book/autoencoders.md``).
    """

    def __init__(self, modality: Modality, config: ModelConfig):
        super().__init__([modality], config)


class VAE(VariationalModel):
    r"""Single-input VAE (settings 1-2), Kingma & Welling 2014.

    Encoder :math:`q(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`, prior
    :math:`p(z) = \mathcal N(0, I)`, and the lower bound (paper eq. 2), estimated with one
    sample of :math:`z` per example:

    .. math:: \log p(x) \ge \mathcal L(x) = \mathbb E_{q(z|x)}\big[\log p(x|z)\big]
              - \mathrm{KL}\big(q(z|x) \,\|\, p(z)\big).

    Derived in the book's chapter "The VAE and its lower bound" (``book/vae.md``).
    """

    def __init__(self, modality: Modality, config: ModelConfig):
        super().__init__([modality], config)


class MAE(Autoencoder):
    r"""Multimodal autoencoder of Ngiam et al. 2011 with the MVAE's shape (settings 3-4).

    One branch per modality, a deterministic shared code :math:`z = f(x, w)` and one decoder
    per modality; training minimises the sum of the two reconstruction losses,

    .. math:: \mathcal J_{\mathrm{MAE}}(x, w) = -\log p(x \mid z) - \log p(w \mid z),
              \qquad z = f(x, w),

    a reconstruction loss, not a bound (there is no prior over :math:`z`). Derived in the
    book's chapter "From autoencoders to multimodal autoencoders" (``book/autoencoders.md``).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config)


class MVAE(VariationalModel):
    r"""Multimodal VAE of Suzuki & Matsuo 2016: joint encoder q(z|x,w), decoders p(x|z), p(w|z).

    The modalities are independent given :math:`z`, so the lower bound (paper eq. 6; eq. 7
    estimates it with one sample of :math:`z` per example) has one reconstruction term per
    modality:

    .. math:: \log p(x, w) \ge \mathcal L(x, w)
              &= \mathbb E_{q(z|x,w)}\big[\log p(x|z) + \log p(w|z)\big] \\
              &\quad - \mathrm{KL}\big(q(z|x,w) \,\|\, p(z)\big).

    Derived in the book's chapter "The multimodal VAE" (``book/mvae.md``). The one encoder
    reads both modalities: to encode an image without its tags, fill them in first
    (:mod:`mvae_lib.crossmodal`).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config)
