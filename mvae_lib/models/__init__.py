"""The models, each kind declared once.

The building blocks and two model types (:mod:`~mvae_lib.models.base`), the paper's four (:mod:`~mvae_lib.models.paper`), JMVAE-kl (:mod:`~mvae_lib.models.jmvae`), the
product of experts (:mod:`~mvae_lib.models.experts`), the mixtures
(:mod:`~mvae_lib.models.mixtures`), MMVAE+ (:mod:`~mvae_lib.models.mmvaeplus`), the conditional VAE
(:mod:`~mvae_lib.models.conditional`), and each kind's declaration
(:mod:`~mvae_lib.models.registry`)."""
from .base import (LIKELIHOODS, Autoencoder, DeterministicEncoder, GaussianEncoder, GaussianHead, JointEncoder, LatentModel,
                   Modality, VariationalModel, mlp)
from .conditional import CVAE
from .experts import ExpertsModel, PoEMVAE, PoEOptions
from .jmvae import JMVAE, JMVAEOptions
from .mixtures import MMVAE, MMVAEOptions, MoPoE, MoPoEOptions, stratified_iw_bound
from .mmvaeplus import MMVAEPlus, MMVAEPlusOptions
from .paper import AE, MAE, MVAE, VAE
from .registry import MODEL_SPECS, ModelSpec, build_model, model_names, model_spec, register_model

__all__ = ["LIKELIHOODS", "AE", "MAE", "MVAE", "VAE", "JMVAE", "JMVAEOptions", "PoEMVAE", "PoEOptions", "MMVAE", "MMVAEOptions", "MoPoE",
           "MoPoEOptions", "MMVAEPlus", "MMVAEPlusOptions", "CVAE",
           "ExpertsModel", "Autoencoder", "VariationalModel", "LatentModel", "Modality", "JointEncoder",
           "GaussianEncoder", "DeterministicEncoder", "GaussianHead", "mlp", "stratified_iw_bound", "MODEL_SPECS",
           "ModelSpec", "build_model", "model_names", "model_spec", "register_model"]
