"""Configuration: network sizes and training settings as frozen dataclasses.

Every default says where it comes from: the paper (Suzuki & Matsuo 2016, section 4.2),
the authors' public code of that period (the Theano library Tars), or a choice of ours made
to fit the bundled data on a laptop CPU.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the encoder and decoder networks.

    Attributes
    ----------
    hidden : tuple of int
        Widths of each modality's encoder MLP and of each decoder MLP.
        Paper: 1024-1024 (section 4.2).
    latent : int
        Dimension of z. Paper: 2048, a reading of the text: the decoders are written
        "2048-1024-1024-3857", so they take a 2048-d input.
    """

    hidden: tuple[int, ...] = (1024, 1024)
    latent: int = 2048


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes
    ----------
    epochs : int
        Passes over the training set. Not stated in the paper.
    batch_size : int
        Mini-batch size. Not stated in the paper; 100 is the Tars examples' choice.
    lr : float
        Adam learning rate. Tars: 1e-3.
    adam_eps : float
        Adam epsilon. Tars: 1e-4.
    clip_grad_norm : float or None
        Clip the global gradient norm to this value. Tars clipped gradients; the value
        10.0 is ours.
    kl_warmup_epochs : int
        Linearly raise the weight of the KL term from 1/kl_warmup_epochs (first epoch) to 1
        over this many epochs (KL annealing, as in Tars; the length is ours). 0 disables it.
        :meth:`Preset.with_epochs` shortens it to at most half the epochs, so that a run
        with fewer epochs than the preset's still trains at full KL weight.
    seed : int
        Seeds parameter initialisation, mini-batch order and the noise eps.
    """

    epochs: int = 100
    batch_size: int = 100
    lr: float = 1e-3
    adam_eps: float = 1e-4
    clip_grad_norm: float | None = 10.0
    kl_warmup_epochs: int = 10
    seed: int = 0


@dataclass(frozen=True)
class Preset:
    """A named pair of model and training configuration."""

    name: str
    model: ModelConfig
    train: TrainConfig
    description: str = ""

    def with_epochs(self, epochs: int) -> "Preset":
        r"""This preset trained for ``epochs`` epochs, with the KL warm-up capped at half of them.

        The KL weight of epoch :math:`e` (from 0) is :math:`\beta_e = \min(1, (e + 1)/T)`
        for a warm-up of :math:`T` epochs, so only the epochs from :math:`T` on train the
        bound itself (:math:`\beta = 1`): :math:`E - T + 1` of :math:`E`. The ``small``
        preset's :math:`T = 5` with :math:`E = 5` (the book's quick mode) would leave one
        epoch at full weight, the last. Capping :math:`T` at :math:`\max(1, \lfloor E/2
        \rfloor)` keeps at least half the epochs at full weight (quick mode: :math:`T = 2`,
        4 of 5 epochs). A warm-up already within half the epochs is left as it is, so
        the preset's own epoch count (the book's full mode) gives the preset unchanged.
        """
        warmup = self.train.kl_warmup_epochs
        if warmup > 0:
            warmup = min(warmup, max(1, epochs // 2))
        return replace(self, train=replace(self.train, epochs=epochs, kl_warmup_epochs=warmup))


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        "paper",
        ModelConfig(hidden=(1024, 1024), latent=2048),
        TrainConfig(epochs=100, batch_size=100),
        "The paper's widths (1024-1024 branches, latent 2048); for MIR Flickr on a GPU.",
    ),
    "small": Preset(
        "small",
        ModelConfig(hidden=(256, 256), latent=32),
        TrainConfig(epochs=20, batch_size=100, kl_warmup_epochs=5),
        "Our choice for the bundled MNIST-halves data: the whole reproduction "
        "(6 models x 5 splits) runs in a few minutes on a 2-core CPU.",
    ),
}


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``, with a helpful error for unknown names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; expected one of {sorted(PRESETS)}"
        ) from None


__all__ = ["ModelConfig", "TrainConfig", "Preset", "PRESETS", "get_preset"]
