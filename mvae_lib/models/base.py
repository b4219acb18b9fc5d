r"""The building blocks every model shares: modalities, encoders, decoders, and two model types.

A model is :class:`Autoencoder` (a deterministic code, trained on reconstruction) or
:class:`VariationalModel` (a Gaussian posterior :math:`q(z|\cdot)`, trained on a lower bound
of :math:`\log p`). Both hold encoders in a dict keyed by the modalities they read (``"x+w"``
for the paper's joint encoder, ``"x"`` for an image-only one), so a model with several
encoders adds entries, not classes, and one decoder per modality. The generative model is
the same for every variational model of the library: :math:`p(z) = \mathcal N(0, I)` and
the decoders :math:`p(m|z)` (paper eq. 9). The chapter "The multimodal VAE" walks through
this file equation by equation.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..objectives import log_standard_normal, negative_elbo, reconstruction_terms
from ..posteriors import Gaussian, Posterior

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
    them :math:`h_x, h_w` and keep :math:`y` for the labels. This is the shared body; the
    head says what the code is: :class:`GaussianEncoder` (a posterior) or
    :class:`DeterministicEncoder` (an autoencoder's code).
    """

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__()
        self.names = tuple(m.name for m in modalities)
        self.dims = {m.name: m.dim for m in modalities}
        self.branches = nn.ModuleDict({m.name: mlp(m.dim, config.hidden) for m in modalities})
        self.joined = config.hidden[-1] * len(modalities) if config.hidden else sum(self.dims.values())

    def features(self, inputs: Mapping[str, Tensor]) -> Tensor:
        y = [self.branches[name](inputs[name]) for name in self.names]
        return y[0] if len(y) == 1 else torch.cat(y, dim=-1)  # (B, sum of branch widths)


class GaussianEncoder(JointEncoder):
    r""":math:`q(z \mid \text{its modalities}) = \mathcal N(\mu, \mathrm{diag}\,\sigma^2)` with a
    :class:`GaussianHead` (paper eq. 8); returns a :class:`mvae_lib.posteriors.Gaussian`."""

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config)
        self.head = GaussianHead(self.joined, config.latent)

    def forward(self, inputs: Mapping[str, Tensor]) -> Gaussian:
        return Gaussian(*self.head(self.features(inputs)))


class DeterministicEncoder(JointEncoder):
    """An autoencoder's code: one linear layer on the concatenated features, shape (B, latent)."""

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig):
        super().__init__(modalities, config)
        self.head = nn.Linear(self.joined, config.latent)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.features(inputs))


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
    """What every model has: encoders ``q(z|.)`` keyed by the modalities they read, and one
    decoder ``p(m|z)`` per modality. Use :class:`Autoencoder` or :class:`VariationalModel`.

    Parameters
    ----------
    modalities : sequence of Modality
        What the model reads and reconstructs.
    config : ModelConfig
        Widths of the MLPs and of ``z``.
    encoders : list, optional
        The subsets (sequences of modality names) with an encoder of their own (default:
        one joint encoder of all the modalities).
    """

    encoder_type: type[JointEncoder] = JointEncoder  # set by the two model types

    def __init__(self, modalities: Sequence[Modality], config: ModelConfig,
                 encoders: Iterable[Sequence[str]] | None = None):
        super().__init__()
        if not modalities:
            raise ValueError("a model needs at least one modality")
        self.modalities = {m.name: m for m in modalities}
        self.config = config
        self.joint = "+".join(self.modalities)
        subsets = [tuple(self.modalities)] if encoders is None else [tuple(s) for s in encoders]
        self.encoders = nn.ModuleDict({
            "+".join(s): self.encoder_type([self.modalities[m] for m in s], config) for s in subsets
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
        """Whether the model encodes exactly the modalities ``given`` (no fill needed)."""
        return "+".join(self.given(given)) in self.encoders

    def _encoder_for(self, given: Iterable[str] | None) -> JointEncoder:
        key = "+".join(self.given(given))
        if key not in self.encoders:
            raise ValueError(
                f"{type(self).__name__} has encoders for {list(self.encoders)}, none for {key!r} alone; "
                "fill in the missing modality (mvae_lib.crossmodal.fill) and use the joint encoder"
            )
        return self.encoders[key]

    def decode(self, z: Tensor) -> dict[str, tuple[Tensor, ...]]:
        """Likelihood parameters of every modality: ``(mu, logvar)`` or ``(logits,)``."""
        return {name: dec(z) for name, dec in self.decoders.items()}

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

    def code(self, inputs: Mapping[str, Tensor], mode: str = "sample", generator: torch.Generator | None = None,
             given: Iterable[str] | None = None) -> Tensor:
        """The representation ``z`` of the modalities in ``given`` (default: all), shape (B, latent)."""
        raise NotImplementedError

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """The training loss and its named terms, batch means (see each model)."""
        raise NotImplementedError


def _check_mode(mode: str) -> None:
    if mode not in ("sample", "mean"):
        raise ValueError(f"mode must be 'sample' or 'mean', found {mode!r}")


class Autoencoder(LatentModel):
    r"""A deterministic code :math:`z = f(\cdot)` and decoders, trained on the reconstruction loss

    .. math:: \ell(x, w) = -\log p(x \mid f(x, w)) - \log p(w \mid f(x, w)),

    the decoders' negative log-likelihoods at the code (the chapter "Autoencoders")."""

    encoder_type = DeterministicEncoder

    def encode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The code of all modalities together, shape (B, latent)."""
        return self.encoders[self.joint](inputs)

    def code(self, inputs, mode="sample", generator=None, given=None) -> Tensor:
        """The code (an autoencoder has no posterior: ``mode`` and ``generator`` change nothing)."""
        _check_mode(mode)
        if self.given(given) != tuple(self.modalities):
            raise ValueError(f"{type(self).__name__} encodes {list(self.modalities)} together; "
                             "fill in the missing modality (mvae_lib.crossmodal.fill) first")
        return self.encode(inputs)

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Reconstruction loss; terms ``loss``, ``elbo`` (its negative) and ``rec_<m>``, batch means."""
        terms = reconstruction_terms(self.likelihoods, inputs, self.decode(self.encode(inputs)))
        return negative_elbo(terms, None, kl_weight)


class VariationalModel(LatentModel):
    r"""A Gaussian posterior per encoder and the generative model
    :math:`p(z)\prod_m p(m \mid z)` with :math:`p(z) = \mathcal N(0, I)`, trained on the bound

    .. math::

       \mathcal L(x, w) &= \mathbb E_{q(z|x,w)}\big[\log p(x|z) + \log p(w|z)\big]
       - \mathrm{KL}\big(q(z|x,w) \,\|\, p(z)\big) \\
       &\le \log p(x, w)

    (paper eq. 6; one sample of :math:`z`, eq. 7 with :math:`L = 1`), derived in the
    chapters "The VAE and its lower bound" and "The multimodal VAE". Models with other
    bounds override :meth:`loss` and, if their posterior is not the joint encoder's,
    :meth:`posterior`.
    """

    encoder_type = GaussianEncoder

    def encode(self, inputs: Mapping[str, Tensor], encoder: str | None = None) -> Gaussian:
        """:math:`q(z \\mid` ``inputs``:math:`)` from the encoder named ``encoder`` (default: the
        joint one), a :class:`~mvae_lib.posteriors.Gaussian` (``mu, logvar = model.encode(...)``)."""
        return self.encoders[encoder or self.joint](inputs)

    def posterior(self, inputs: Mapping[str, Tensor], given: Iterable[str] | None = None) -> Posterior:
        """:math:`q(z \\mid` the modalities in ``given``:math:`)` (default: all).

        A model with one encoder, the joint one, can only condition on every modality: for
        the MVAE a missing modality must be filled in first (:mod:`mvae_lib.crossmodal`).
        Models with an encoder per subset override this.
        """
        return self._encoder_for(given)(inputs)

    def code(self, inputs, mode="sample", generator=None, given=None) -> Tensor:
        """A posterior sample (``mode="sample"``, as in the paper) or the posterior mean."""
        _check_mode(mode)
        q = self.posterior(inputs, given)
        return q.mean if mode == "mean" else q.rsample(1, generator)[0]

    def log_joint(self, z: Tensor, inputs: Mapping[str, Tensor], modalities: Iterable[str] | None = None,
                  ) -> Tensor:
        """:math:`\\log p(z) + \\sum_m \\log p(m \\mid z)` over ``modalities`` (default: all), for
        ``z`` of shape (S, B, D): shape (S, B)."""
        return sum(self.log_likelihoods(z, inputs, modalities).values()) + log_standard_normal(z)

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        """Negative bound :math:`-\\mathcal L` with one sample of ``z``; terms ``loss``, ``elbo``,
        ``kl``, ``rec_<m>``, batch means (:func:`mvae_lib.objectives.negative_elbo`)."""
        q = self.encode(inputs)
        terms = reconstruction_terms(self.likelihoods, inputs, self.decode(q.sample()))
        return negative_elbo(terms, q.kl_to_prior(), kl_weight)
