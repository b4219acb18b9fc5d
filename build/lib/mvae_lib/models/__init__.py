"""The models, each kind declared once.

The building blocks and two model types (:mod:`~mvae_lib.models.base`), the paper's four (:mod:`~mvae_lib.models.paper`), JMVAE-kl (:mod:`~mvae_lib.models.jmvae`), the
product of experts (:mod:`~mvae_lib.models.experts`), the mixtures
(:mod:`~mvae_lib.models.mixtures`), and each kind's declaration
(:mod:`~mvae_lib.models.registry`)."""
from .base import (LIKELIHOODS, Autoencoder, DeterministicEncoder, GaussianEncoder, GaussianHead, JointEncoder, LatentModel,
                   Modality, VariationalModel, mlp)
from .experts import ExpertsModel, PoEMVAE
from .jmvae import JMVAE, JMVAEOptions
from .mixtures import MMVAE, MMVAEOptions, MoPoE, stratified_iw_bound
from .paper import AE, MAE, MVAE, VAE
from .registry import MODEL_SPECS, ModelSpec, build_model, model_names, model_spec, register_model

__all__ = ["LIKELIHOODS", "AE", "MAE", "MVAE", "VAE", "JMVAE", "JMVAEOptions", "PoEMVAE", "MMVAE", "MMVAEOptions", "MoPoE",
           "ExpertsModel", "Autoencoder", "VariationalModel", "LatentModel", "Modality", "JointEncoder",
           "GaussianEncoder", "DeterministicEncoder", "GaussianHead", "mlp", "stratified_iw_bound", "MODEL_SPECS",
           "ModelSpec", "build_model", "model_names", "model_spec", "register_model"]
