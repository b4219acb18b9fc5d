"""Each model kind declared once: name, class, inputs, image-alone encoding, typed options.

A declaration gives a model's name, its class, what it reads, how it sees an image alone,
and its typed options. Every list of models (the command line, the grids, Table 3, the
explorers, the book) reads these declarations.

Adding a model is one module (its class, a subclass of :class:`~mvae_lib.models.base.Autoencoder`
or :class:`~mvae_lib.models.base.VariationalModel`) plus one :func:`register_model` call::

    register_model(ModelSpec("MyVAE", MyVAE, reads="all", image_alone="own", options=MyOptions))

Worker processes import the class's module before they build the model, so a model
declared in your own module trains in the grid's parallel workers too.
"""
from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from ..config import ModelConfig
from .base import LatentModel, Modality
from .experts import PoEMVAE, PoEOptions
from .jmvae import JMVAE, JMVAEOptions
from .mixtures import MMVAE, MMVAEOptions, MoPoE, MoPoEOptions
from .mmvaeplus import MMVAEPlus, MMVAEPlusOptions
from .paper import AE, MAE, MVAE, VAE

READS = ("one", "all")  # a single input (settings 1-2), or every modality (settings 3-4)
IMAGE_ALONE = ("none", "fill", "own")  # single input; a fill for the joint encoder; its own q(z|x)


@dataclass(frozen=True)
class ModelSpec:
    """The declaration of one model kind.

    Attributes
    ----------
    name : str
        How tables, runs and the command line name it (``"JMVAE-kl"``).
    cls : type
        The model class. A ``reads="one"`` class is built as ``cls(modality, config)``, an
        ``"all"`` class as ``cls(modalities, config, **options)``.
    reads : str
        ``"one"``: one input (the paper's settings 1-2); ``"all"``: every modality (3-4).
    image_alone : str
        How it encodes an image without its tags: ``"fill"`` (one joint encoder, fed a fill
        strategy, :mod:`mvae_lib.crossmodal`), ``"own"`` (its own posterior given the image),
        or ``"none"`` (a single-input model).
    options : type or None
        A frozen dataclass of the model's own settings, whose defaults cite their source.
    description : str
        One line for the command line's help.
    version : int
        Bump it when a change alters what the model's training computes: saved runs of the
        model are keyed by it (from 2 on), so older runs are trained again, and runs of the
        other models are kept.
    """

    name: str
    cls: type[LatentModel]
    reads: str
    image_alone: str
    options: type | None = None
    description: str = ""
    version: int = 1

    def __post_init__(self):
        if self.reads not in READS:
            raise ValueError(f"model {self.name!r}: reads must be one of {READS}, found {self.reads!r}")
        if self.image_alone not in IMAGE_ALONE:
            raise ValueError(f"model {self.name!r}: image_alone must be one of {IMAGE_ALONE}, "
                             f"found {self.image_alone!r}")
        if (self.reads == "one") != (self.image_alone == "none"):
            raise ValueError(f"model {self.name!r}: a single-input model has image_alone='none', "
                             "and only it")

    @property
    def settings(self) -> tuple[int, ...]:
        """The paper's settings it runs in."""
        return (1, 2) if self.reads == "one" else (3, 4)

    def check_options(self, options: dict | None) -> dict:
        """``options`` checked against the options dataclass (names and types), as a dict."""
        options = dict(options or {})
        if not options:
            return {}
        allowed = {f.name for f in fields(self.options)} if self.options else set()
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"{self.name} does not take the options {unknown}; it takes "
                             f"{sorted(allowed) or 'none'}")
        hints = typing.get_type_hints(self.options)
        for name, value in options.items():
            want = hints[name]
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) if want is float else \
                isinstance(value, want) and not isinstance(value, bool)
            if not ok:
                raise ValueError(f"{self.name} option {name}: expected {want.__name__}, found {value!r}")
        return options


MODEL_SPECS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Declare a model kind (replacing a declaration of the same name); returns ``spec``."""
    MODEL_SPECS[spec.name] = spec
    return spec


def model_spec(name: str) -> ModelSpec:
    """The declaration of ``name``, with a clear error for an unknown name."""
    try:
        return MODEL_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {list(MODEL_SPECS)}") from None


def model_names(image_alone: str | None = None) -> list[str]:
    """Every declared model, in declaration order (only those of ``image_alone``, if given)."""
    return [n for n, s in MODEL_SPECS.items() if image_alone is None or s.image_alone == image_alone]


def build_model(kind: str, modalities: Iterable[Modality], config: ModelConfig, **options) -> LatentModel:
    """Build the declared model ``kind`` for ``modalities``; ``options`` are its own settings
    (fields of its options dataclass, e.g. ``alpha`` for JMVAE-kl, ``K`` for MMVAE)."""
    spec = model_spec(kind)
    modalities = list(modalities)
    options = spec.check_options(options)
    if spec.reads == "one":
        if len(modalities) != 1:
            raise ValueError(f"{kind} reads one input; found {len(modalities)} modalities")
        return spec.cls(modalities[0], config)
    full = asdict(spec.options(**options)) if spec.options else {}
    return spec.cls(modalities, config, **full)


for _spec in (
    ModelSpec("AE", AE, "one", "none", description="autoencoder, one input (paper, settings 1-2)"),
    ModelSpec("VAE", VAE, "one", "none", description="VAE, one input (paper, settings 1-2)"),
    ModelSpec("MAE", MAE, "all", "fill", description="multimodal autoencoder (paper, settings 3-4)"),
    ModelSpec("MVAE", MVAE, "all", "fill", description="the paper's multimodal VAE (settings 3-4)"),
    ModelSpec("JMVAE-kl", JMVAE, "all", "own", JMVAEOptions, "joint encoder plus unimodal encoders"),
    ModelSpec("PoE", PoEMVAE, "all", "own", PoEOptions, "product of experts (Wu & Goodman 2018)"),
    ModelSpec("MMVAE", MMVAE, "all", "own", MMVAEOptions, "mixture of experts (Shi et al. 2019)"),
    # version 2: one subset per example (the authors' estimator), where version 1 averaged every subset's bound
    ModelSpec("MoPoE", MoPoE, "all", "own", MoPoEOptions, "mixture of products of experts (Sutter et al. 2021)",
              version=2),
    ModelSpec("MMVAE+", MMVAEPlus, "all", "own", MMVAEPlusOptions,
              "shared and private codes, auxiliary prior (Palumbo et al. 2023)"),
):
    register_model(_spec)
