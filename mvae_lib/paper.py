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
