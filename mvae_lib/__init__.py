"""mvae_lib: the multimodal VAE of Suzuki & Matsuo (2016), its baselines and its evaluation.

Modules, in the order of the method:

- :mod:`mvae_lib.config`      network sizes and training settings (presets ``paper``, ``small``)
- :mod:`mvae_lib.datasets`    the data sets, declared once: MNIST halves, MIR Flickr, your own arrays
- :mod:`mvae_lib.objectives`  log-likelihoods, the Gaussian KL, the (multimodal) lower bound
- :mod:`mvae_lib.posteriors`  the posterior types: a Gaussian, products and mixtures of experts
- :mod:`mvae_lib.models`      the models, each declared once (:mod:`mvae_lib.models.registry`):
  AE, VAE, MAE, MVAE (paper eq. 8-9), JMVAE-kl, PoE, MMVAE, MoPoE
- :mod:`mvae_lib.iwae`        importance-weighted bounds and log-likelihood estimates
- :mod:`mvae_lib.settling`    has a log-likelihood estimate settled? estimates at several K, repeated
- :mod:`mvae_lib.train`       Adam on mini-batches, seeded, with a divergence check
- :mod:`mvae_lib.crossmodal`  codes, and a missing modality: fill strategies, generation, coherence
- :mod:`mvae_lib.evaluate`    the logistic-regression probe, LRAP and macro AP
- :mod:`mvae_lib.code_noise`  how much of a sampled code is noise, and the KL's bound on it
- :mod:`mvae_lib.settings`    the paper's settings 1-4 and the rows of Tables 1-2
- :mod:`mvae_lib.runs`        one saved run: train, score, save, load
- :mod:`mvae_lib.runner`      the one runner: jobs over worker processes, devices, threads
- :mod:`mvae_lib.tables`      Tables 1-2 (any grid of runs); :mod:`mvae_lib.results` their tidy scores
- :mod:`mvae_lib.table3`      Table 3: the image without its tags, every model and fill
- :mod:`mvae_lib.tradeoff`    what modality sub-sampling costs a mixture model: the cross terms
- :mod:`mvae_lib.runcache`    saved runs and their scores on disk: keys, atomic writes, healing
- :mod:`mvae_lib.claims`      which process is making a run, so that none is made twice
- :mod:`mvae_lib.stats`       paired comparisons of table cells: the verdicts
- :mod:`mvae_lib.workers`     worker processes that stop with their parent, one device each
- :mod:`mvae_lib.paper`       the paper's reported numbers
- :mod:`mvae_lib.present`     tables, figures and explorers of the results (:mod:`mvae_lib.present.tables`, ...)
- :mod:`mvae_lib.book`        a chapter's set-up in one call, the banner, the build report
- :mod:`mvae_lib.cli`         ``python -m mvae_lib reproduce`` and ``python -m mvae_lib run``
"""
from .config import PRESETS, ModelConfig, Preset, TrainConfig, get_preset
from .crossmodal import FILLS, MissingView, encode, evaluate_missing
from .datasets import (DATASETS, DataError, DatasetSpec, Split, from_arrays, load_split, mirflickr, mnist_halves,
                       mnist_quadrants, register_dataset, save_npz)
from .evaluate import LogisticProbe, fit_probe, lrap, macro_average_precision, score
from .models import (AE, CVAE, JMVAE, MAE, MMVAE, MODEL_SPECS, MVAE, VAE, Autoencoder, JMVAEOptions, LatentModel,
                     MMVAEOptions, MMVAEPlus, MMVAEPlusOptions, Modality, ModelSpec, MoPoE, MoPoEOptions, PoEMVAE,
                     PoEOptions, VariationalModel, build_model, model_names, register_model)
from .objectives import (bernoulli_log_likelihood, gaussian_log_likelihood, kl_normal, kl_standard_normal,
                         log_standard_normal, negative_elbo, reparameterize)
from .paper import PAPER_LRAP
from .posteriors import Gaussian, Mixture, product_of_experts
from .results import Results
from .runs import Run, find_run, get_run
from .settings import SETTINGS, TABLE_ROWS, Row
from .table3 import OWN, TABLE3_ROWS, EvalConfig, Row3, run_table3
from .tables import run_table
from .train import TrainingDiverged, pick_device, train

__version__ = "0.1.0"
