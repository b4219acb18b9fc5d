"""mvae_lib: the multimodal VAE of Suzuki & Matsuo (2016), its baselines and its evaluation.

Modules, in the order of the method:

- :mod:`mvae_lib.config`      network sizes and training settings (presets ``paper``, ``small``)
- :mod:`mvae_lib.data`        the bundled MNIST halves and the MIR Flickr release loader
- :mod:`mvae_lib.objectives`  log-likelihoods, the Gaussian KL, the (multimodal) lower bound
- :mod:`mvae_lib.models`      AE, VAE, MAE, MVAE (paper eq. 8-9)
- :mod:`mvae_lib.posteriors`  Gaussian posteriors, products and mixtures of experts
- :mod:`mvae_lib.jmvae`       JMVAE-kl: unimodal encoders pulled towards the joint one
- :mod:`mvae_lib.poe`         PoE-MVAE: the posterior as a product of experts
- :mod:`mvae_lib.mixtures`    MMVAE and MoPoE: mixtures of experts
- :mod:`mvae_lib.iwae`        importance-weighted bounds and log-likelihood estimates
- :mod:`mvae_lib.crossmodal`  a missing modality: fill strategies, generation, coherence
- :mod:`mvae_lib.train`       Adam on mini-batches, seeded, with a divergence check
- :mod:`mvae_lib.evaluate`    encoding, the logistic-regression probe, LRAP and macro AP
- :mod:`mvae_lib.experiments` settings 1-4, Tables 1-2: the grid of runs, spread over processes
- :mod:`mvae_lib.table3`      Table 3: an image without its tags, scored four ways
- :mod:`mvae_lib.stats`       paired comparisons of table cells: the verdicts
- :mod:`mvae_lib.runcache`    saved runs on disk: keys, atomic writes, self-healing loads, claims
- :mod:`mvae_lib.workers`     worker processes that stop with their parent, one device each
- :mod:`mvae_lib.paper`       the paper's reported numbers
- :mod:`mvae_lib.present`     tables, figures and explorers of the results (:mod:`mvae_lib.present.tables`, ...)
- :mod:`mvae_lib.book`        a chapter's set-up in one call, the banner, the build report
- :mod:`mvae_lib.cli`         ``python -m mvae_lib reproduce`` and ``python -m mvae_lib run``
"""
from .config import PRESETS, ModelConfig, Preset, TrainConfig, get_preset
from .data import DataError, Split, load_split, mirflickr, mnist_halves
from .evaluate import LogisticProbe, encode, fit_probe, lrap, macro_average_precision, score
from .experiments import SETTINGS, TABLE_ROWS, Results, Row, Run, get_run, run_table
from .models import AE, MAE, MVAE, VAE, LatentModel, Modality, build_model
from .jmvae import JMVAE
from .mixtures import MMVAE, MoPoE
from .poe import PoEMVAE
from .posteriors import Gaussian, Mixture, product_of_experts
from .objectives import (bernoulli_log_likelihood, gaussian_log_likelihood, kl_normal, kl_standard_normal,
                         negative_elbo, reparameterize)
from .paper import PAPER_LRAP
from .train import TrainingDiverged, pick_device, train

__version__ = "0.1.0"
