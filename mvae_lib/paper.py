"""The paper's reported numbers, stored once and labelled as the paper's.

Suzuki & Matsuo, "Multimodal Learning by Deep Generative Model", JSAI 2016, Tables 1-2:
LRAP of a logistic-regression probe on MIR Flickr (image features of Srivastava &
Salakhutdinov 2012), mean over 5 train/test splits; no spread was reported. Table 2's
column headers read "setting 2 / setting 3" in the paper, a typo for settings 3 / 4.
"""

SOURCE = "Suzuki & Matsuo (JSAI 2016), Tables 1-2: LRAP on MIR Flickr, mean of 5 splits"

PAPER_LRAP: dict[tuple[str, int], float] = {
    ("AE", 1): 0.517,
    ("AE", 2): 0.507,
    ("VAE", 1): 0.455,
    ("VAE", 2): 0.457,
    ("MAE", 3): 0.611,
    ("MAE", 4): 0.517,
    ("MVAE", 3): 0.618,
    ("MVAE", 4): 0.455,
}


def paper_value(model: str, setting: int, metric: str = "lrap") -> float | None:
    """The paper's number for a table cell, or None where the paper reports none."""
    return PAPER_LRAP.get((model, setting)) if metric == "lrap" else None


# The paper's reading of its tables (its section 4.3), each as a comparison of two cells
# ``a`` and ``b`` and the verdicts of :func:`mvae_lib.stats.compare` that agree with it.
# Encoded as the paper states them: concatenating the tags makes the AE *worse*
# (0.517 -> 0.507), while the VAE gains nothing (0.455 -> 0.457); with the tags zeroed
# at test time both multimodal models fall back to their single-modality scores.
FINDINGS: tuple[tuple[str, tuple[str, int], tuple[str, int], tuple[str, ...]], ...] = (
    ("the AE is above the VAE on the image features", ("AE", 1), ("VAE", 1), ("above",)),
    ("concatenating the tags makes the AE worse", ("AE", 2), ("AE", 1), ("below",)),
    ("concatenating the tags gives the VAE no gain", ("VAE", 2), ("VAE", 1), ("level with", "below")),
    ("a second modality helps the autoencoder (MAE, setting 3, above AE, setting 1)",
     ("MAE", 3), ("AE", 1), ("above",)),
    ("a second modality helps the VAE (MVAE, setting 3, above VAE, setting 1)",
     ("MVAE", 3), ("VAE", 1), ("above",)),
    ("the MVAE is above the MAE with both modalities", ("MVAE", 3), ("MAE", 3), ("above",)),
    ("with the tags zeroed the MAE falls back to the AE's score", ("MAE", 4), ("AE", 1), ("level with",)),
    ("with the tags zeroed the MVAE falls back to the VAE's score", ("MVAE", 4), ("VAE", 1), ("level with",)),
)

# The paper's remedy and future work (its section 5), in the words of our English restatement.
REMEDY = ("at test time, give the missing tags random values instead of zeros: the zeros erase, "
          "through the shared hidden layer, what the tags contributed during training")
FUTURE_WORK = ("a comparison with the multimodal RBM and DBM", "experiments on other data sets")


# --------------------------------------------------------------------------- other papers' numbers
#: Where the conditional-generation numbers beside Table 4 come from, and what they are.
SOHN_SOURCE = ("Sohn, Lee & Yan (NeurIPS 2015), MNIST quadrant prediction, as reproduced by the Pyro "
               "project (pyro-ppl/pyro, examples/cvae, its README table): negative conditional "
               "log-likelihood in nats, 1 / 2 / 3 quadrants observed (bottom-left; the left half; all "
               "but the bottom-right). Pyro's CVAE figure is a 10-particle negative ELBO, an upper bound "
               "on the negative log-likelihood. The paper's own table could not be read here")
#: (model, observed quadrants) -> negative conditional log-likelihood in nats, as SOHN_SOURCE says.
SOHN_REPORTED: dict[tuple[str, int], float] = {
    ("deterministic network", 1): 100.4, ("deterministic network", 2): 61.9, ("deterministic network", 3): 25.4,
    ("CVAE", 1): 71.8, ("CVAE", 2): 51.0, ("CVAE", 3): 24.2,
}
