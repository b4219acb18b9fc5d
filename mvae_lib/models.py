"""The networks: AE, VAE (one input) and MAE, MVAE (two inputs), paper eq. 8-9.

All four are one class, :class:`LatentModel`, that differs in two switches:
how many modalities it reads (one, or ``x`` and ``w``) and whether the code ``z`` is a
sample from a Gaussian posterior (VAE, MVAE) or a deterministic shared layer (AE, MAE).

Encoders live in a dict keyed by the modalities they read (``"x+w"`` for the joint
encoder of the paper), so models with several encoders -- JMVAE-kl's unimodal
``q(z|x)`` and ``q(z|w)``, or a product of experts -- are new entries, not new classes.
The book's chapter "The multimodal VAE" walks through this file equation by equation.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .objectives import (gaussian_log_likelihood, kl_standard_normal, negative_elbo, reconstruction_terms,
                         reparameterize)
from .posteriors import Gaussian, Posterior

LIKELIHOODS = ("gaussian", "bernoulli")


@dataclass(frozen=True)
class Modality:
    """One observed variable: its name (``"x"``, ``"w"``), width and decoder likelihood."""

    name: str
    dim: int
    likelihood: str

    def __post_init__(self):
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(
                f"modality {self.name!r}: likelihood must be one of {LIKELIHOODS}, "
                f"found {self.likelihood!r}"
            )
        if self.dim < 1:
            raise ValueError(f"modality {self.name!r}: dim must be >= 1, found {self.dim}")


def mlp(in_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """Linear + ReLU layers of the given widths (the paper uses ReLU everywhere)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU(inplace=True)]
        in_dim = width
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    r"""Paper eq. 8: :math:`\mu = \mathrm{Linear}(h)`, :math:`\log\sigma^2 = \tanh(\mathrm{Linear}(h))`.

    The two linear maps are stored as one ``Linear(in, 2 * out)`` whose output is split
    in halves: the same function, one matrix product instead of two (faster on small
    batches). The tanh bounds the log-variance to [-1, 1].
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.out_dim = out_dim
        self.linear = nn.Linear(in_dim, 2 * out_dim)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        mu, pre_logvar = self.linear(h).split(self.out_dim, dim=-1)  # 2 x (B, out)
        return mu, torch.tanh(pre_logvar)


class JointEncoder(nn.Module):
    r"""Paper eq. 8: :math:`h_m = \mathrm{MLP}_m(m)` per modality, then a head on the concatenation.

    The paper writes the hidden features :math:`y_x, y_w`; the book and the library call
    them :math:`h_x, h_w` and keep :math:`y` for the labels.

    With ``stochastic=True`` the head is a :class:`GaussianHead` giving
    :math:`q(z|x,w) = \mathcal N(\mu, \mathrm{diag}\,\sigma^2)`; otherwise a single linear layer
    (the deterministic shared layer of an autoencoder) and ``logvar`` is ``None``.
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, stochastic: bool):
        super().__init__()
        self.names = tuple(m.name for m in modalities)
        self.dims = {m.name: m.dim for m in modalities}
        self.branches = nn.ModuleDict({m.name: mlp(m.dim, config.hidden) for m in modalities})
        joined = config.hidden[-1] * len(modalities) if config.hidden else sum(self.dims.values())
        self.head = GaussianHead(joined, config.latent) if stochastic else nn.Linear(joined, config.latent)

    def forward(self, inputs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        y = [self.branches[name](inputs[name]) for name in self.names]
        h = y[0] if len(y) == 1 else torch.cat(y, dim=-1)  # (B, sum of branch widths)
        out = self.head(h)
        return out if isinstance(out, tuple) else (out, None)


class GaussianDecoder(nn.Module):
    r"""Paper eq. 9 (real-valued data): :math:`p(x|z) = \mathcal N(\mu(z), \mathrm{diag}\,\sigma^2(z))`, same head as the encoder."""

    def __init__(self, latent: int, hidden: Sequence[int], out_dim: int):
        super().__init__()
        self.body = mlp(latent, hidden)
        self.head = GaussianHead(hidden[-1] if hidden else latent, out_dim)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(self.body(z))  # (mu, logvar)


class BernoulliDecoder(nn.Module):
    r"""Paper eq. 9 (binary data): :math:`p(w|z) = \mathrm{Bernoulli}(\rho)`, :math:`\rho = \mathrm{sigmoid}(\eta(z))`; returns the logits :math:`\eta`."""

    def __init__(self, latent: int, hidden: Sequence[int], out_dim: int):
        super().__init__()
        self.body = mlp(latent, hidden)
        self.logits = nn.Linear(hidden[-1] if hidden else latent, out_dim)

    def forward(self, z: Tensor) -> tuple[Tensor]:
        return (self.logits(self.body(z)),)


DECODERS = {"gaussian": GaussianDecoder, "bernoulli": BernoulliDecoder}


class LatentModel(nn.Module):
    """Encoders ``q(z|.)`` and one decoder ``p(m|z)`` per modality, trained on a bound or a reconstruction loss.

    Parameters
    ----------
    modalities : sequence of Modality
        What the model reads and reconstructs.
    config : ModelConfig
        Widths of the MLPs and of ``z``.
    variational : bool
        True for VAE / MVAE (Gaussian posterior, KL term, sampled ``z``); False for
        AE / MAE (deterministic code, reconstruction only).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig, variational: bool,
                 encoders: Iterable[Sequence[str]] | None = None):
        super().__init__()
        if not modalities:
            raise ValueError("a model needs at least one modality")
        self.modalities = {m.name: m for m in modalities}
        self.config = config
        self.variational = variational
        self.joint = "+".join(self.modalities)
        subsets = [tuple(self.modalities)] if encoders is None else [tuple(s) for s in encoders]
        self.encoders = nn.ModuleDict({
            "+".join(s): JointEncoder([self.modalities[m] for m in s], config, variational) for s in subsets
        })
        self.decoders = nn.ModuleDict(
            {m.name: DECODERS[m.likelihood](config.latent, config.hidden, m.dim) for m in modalities}
        )

    @property
    def likelihoods(self) -> dict[str, str]:
        return {name: m.likelihood for name, m in self.modalities.items()}

    def check_inputs(self, inputs: Mapping[str, Tensor]) -> None:
        """Raise a ValueError naming what was expected when ``inputs`` do not fit the model."""
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise ValueError(
                f"{type(self).__name__} reads modalities {list(self.modalities)}; "
                f"missing {missing} (got {sorted(inputs)}). Pass a zero tensor to mean 'absent'."
            )
        for name, m in self.modalities.items():
            t = inputs[name]
            if t.dim() != 2 or t.shape[1] != m.dim:
                raise ValueError(
                    f"input {name!r}: expected shape (batch, {m.dim}), found {tuple(t.shape)}"
                )

    def encode(self, inputs: Mapping[str, Tensor], encoder: str | None = None) -> tuple[Tensor, Tensor | None]:
        """Parameters ``(mu, logvar)`` of ``q(z | inputs)``; ``logvar`` is None for an autoencoder."""
        return self.encoders[encoder or self.joint](inputs)

    def given(self, given: Iterable[str] | None = None) -> tuple[str, ...]:
        """The observed modalities ``given`` (default: all), checked and in the model's order."""
        if given is None:
            return tuple(self.modalities)
        given = set(given)
        unknown = given - set(self.modalities)
        if unknown or not given:
            raise ValueError(f"{type(self).__name__} reads modalities {list(self.modalities)}; "
                             f"asked to condition on {sorted(given)}")
        return tuple(m for m in self.modalities if m in given)

    def can_condition_on(self, given: Iterable[str]) -> bool:
        """Whether :meth:`posterior` accepts exactly the modalities ``given`` (no fill needed)."""
        return "+".join(self.given(given)) in self.encoders

    def posterior(self, inputs: Mapping[str, Tensor], given: Iterable[str] | None = None) -> Posterior:
        """:math:`q(z \\mid` the modalities in ``given``:math:`)` (default: all) as a distribution object.

        A model with one encoder, the joint one, can only condition on every modality:
        for the MAE and MVAE a missing modality must be filled in first
        (:mod:`mvae_lib.crossmodal`). Models with an encoder per subset override this.
        """
        given = self.given(given)
        key = "+".join(given)
        if key not in self.encoders:
            raise ValueError(
                f"{type(self).__name__} has encoders for {list(self.encoders)}, none for {key!r} alone; "
                "fill in the missing modality (mvae_lib.crossmodal.fill) and use the joint encoder"
            )
        mu, logvar = self.encoders[key](inputs)
        if logvar is None:
            raise ValueError(f"{type(self).__name__} is not variational: it has a code, not a posterior")
        return Gaussian(mu, logvar)

    def code(
        self,
        inputs: Mapping[str, Tensor],
        mode: str = "sample",
        generator: torch.Generator | None = None,
        given: Iterable[str] | None = None,
    ) -> Tensor:
        """The representation ``z`` of the modalities in ``given`` (default: all): a posterior
        sample (``mode="sample"``, as in the paper) or the posterior mean."""
        if mode not in ("sample", "mean"):
            raise ValueError(f"mode must be 'sample' or 'mean', found {mode!r}")
        if not self.variational:
            given = self.given(given)
            if given != tuple(self.modalities):
                raise ValueError(f"{type(self).__name__} encodes {list(self.modalities)} together; "
                                 "fill in the missing modality (mvae_lib.crossmodal.fill) first")
            return self.encode(inputs)[0]
        q = self.posterior(inputs, given)
        return q.mean if mode == "mean" else q.rsample(1, generator)[0]

    def log_likelihoods(self, z: Tensor, inputs: Mapping[str, Tensor], modalities: Iterable[str] | None = None,
                        ) -> dict[str, Tensor]:
        """:math:`\\log p(m \\mid z)` for each of ``modalities`` (default: all), for ``z`` of
        shape (S, B, D): a dict of (S, B) tensors."""
        modalities = self.given(modalities)
        S, B, D = z.shape
        flat = z.reshape(S * B, D)                                   # (S*B, D)
        params = {m: self.decoders[m](flat) for m in modalities}
        targets = {m: inputs[m].expand(S, B, -1).reshape(S * B, -1) for m in modalities}
        rec = reconstruction_terms({m: self.likelihoods[m] for m in modalities}, targets, params)
        return {m: -rec[f"rec_{m}"].reshape(S, B) for m in modalities}

    def log_joint(self, z: Tensor, inputs: Mapping[str, Tensor], modalities: Iterable[str] | None = None,
                  ) -> Tensor:
        """:math:`\\log p(z) + \\sum_m \\log p(m \\mid z)` over ``modalities`` (default: all), for
        ``z`` of shape (S, B, D): shape (S, B). The generative model is the same for every
        model of this library: a standard-normal prior and one decoder per modality."""
        log_lik = sum(self.log_likelihoods(z, inputs, modalities).values())
        return log_lik + gaussian_log_likelihood(z, torch.zeros(()), torch.zeros(()))

    def decode(self, z: Tensor) -> dict[str, tuple[Tensor, ...]]:
        """Likelihood parameters of every modality: ``(mu, logvar)`` or ``(logits,)``."""
        return {name: dec(z) for name, dec in self.decoders.items()}

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative bound (VAE, MVAE; paper eq. 7 with L = 1) or reconstruction loss (AE, MAE).

        Returns a dict of the terms ``"loss"``, ``"elbo"``, ``"kl"``, ``"rec_<m>"``...,
        averaged over the batch; see :func:`mvae_lib.objectives.negative_elbo`.
        """
        mu, logvar = self.encode(inputs)
        if self.variational:
            z = reparameterize(mu, logvar)
            kl = kl_standard_normal(mu, logvar)
        else:
            z, kl = mu, None
        terms = reconstruction_terms(self.likelihoods, inputs, self.decode(z))
        return negative_elbo(terms, kl, kl_weight)

    def extra_repr(self) -> str:
        return f"variational={self.variational}"


class AE(LatentModel):
    r"""Single-input autoencoder (settings 1-2): the same networks, a deterministic code.

    The code is :math:`z = f(x)`, with no sampling, and training minimises the negative
    log-likelihood of the input under the decoder (Gaussian for real-valued ``x``):

    .. math:: \mathcal J_{\mathrm{AE}}(x) = -\log p\big(x \mid z = f(x)\big).

    A reconstruction loss, not a bound: an autoencoder has no prior over :math:`z`, so it
    defines no :math:`p(x)`. Derived in the book's chapter "From autoencoders to multimodal
    autoencoders" (``book/autoencoders.md``).
    """

    def __init__(self, modality: Modality, config: ModelConfig):
        super().__init__([modality], config, variational=False)


class VAE(LatentModel):
    r"""Single-input VAE (settings 1-2), Kingma & Welling 2014.

    Encoder :math:`q(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`, prior
    :math:`p(z) = \mathcal N(0, I)`, and the lower bound (paper eq. 2), estimated with one
    sample of :math:`z` per example:

    .. math:: \log p(x) \ge \mathcal L(x) = \mathbb E_{q(z|x)}\big[\log p(x|z)\big]
              - \mathrm{KL}\big(q(z|x) \,\|\, p(z)\big).

    Derived in the book's chapter "The VAE and its lower bound" (``book/vae.md``).
    """

    def __init__(self, modality: Modality, config: ModelConfig):
        super().__init__([modality], config, variational=True)


class MAE(LatentModel):
    r"""Multimodal autoencoder of Ngiam et al. 2011 with the MVAE's shape (settings 3-4).

    One branch per modality, a deterministic shared code :math:`z = f(x, w)` and one decoder
    per modality; training minimises the sum of the two reconstruction losses,

    .. math:: \mathcal J_{\mathrm{MAE}}(x, w) = -\log p(x \mid z) - \log p(w \mid z),
              \qquad z = f(x, w),

    a reconstruction loss, not a bound (there is no prior over :math:`z`). Derived in the
    book's chapter "From autoencoders to multimodal autoencoders" (``book/autoencoders.md``).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config, variational=False)


class MVAE(LatentModel):
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
        super().__init__(modalities, config, variational=True)


MODELS: dict[str, type[LatentModel]] = {"AE": AE, "VAE": VAE, "MAE": MAE, "MVAE": MVAE}
MISSING_MODALITY_MODELS = ("JMVAE-kl", "PoE", "MMVAE", "MoPoE")  # the models that answered setting 4


def model_classes() -> dict[str, type[LatentModel]]:
    """Every model kind: the paper's four and, from their own modules, the models with an
    encoder for a modality alone (imported here, not at the top, because they build on this one)."""
    from .jmvae import JMVAE
    from .mixtures import MMVAE, MoPoE
    from .poe import PoEMVAE

    return {**MODELS, "JMVAE-kl": JMVAE, "PoE": PoEMVAE, "MMVAE": MMVAE, "MoPoE": MoPoE}


def build_model(kind: str, modalities: Iterable[Modality], config: ModelConfig, **options) -> LatentModel:
    """Build ``kind`` (``"AE"``, ``"VAE"``, ``"MAE"``, ``"MVAE"``, ``"JMVAE-kl"``, ``"PoE"``,
    ``"MMVAE"``, ``"MoPoE"``) for the given modalities. ``options`` are the kind's own
    settings (``alpha`` for JMVAE-kl, ``K`` for MMVAE)."""
    classes = model_classes()
    if kind not in classes:
        raise ValueError(f"unknown model {kind!r}; expected one of {sorted(classes)}")
    modalities = list(modalities)
    if kind in ("AE", "VAE"):
        if len(modalities) != 1:
            raise ValueError(f"{kind} reads one input; found {len(modalities)} modalities")
        return MODELS[kind](modalities[0], config)
    try:
        return classes[kind](modalities, config, **options)
    except TypeError as err:
        raise ValueError(f"{kind} does not take the options {sorted(options)}: {err}") from None
