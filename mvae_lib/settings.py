"""The paper's settings 1-4 and the rows of its Tables 1 and 2 (section 4.2).

A setting says how a model sees the data: one input (the image, or the image and its tags
joined into one vector) or two modalities, and which modalities are missing at test time
(setting 4: the tags, seen through the ``zeros`` fill of :mod:`mvae_lib.crossmodal`, or a
model's own image-only posterior).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datasets import Split
from .models import Modality, model_spec


@dataclass(frozen=True)
class Setting:
    """How a model sees the data (paper section 4.2)."""

    number: int
    view: str  # "x": image only; "xw": x and w concatenated; "x+w": two modalities
    missing_at_test: tuple[str, ...]
    description: str
    short: str  # for table cells


SETTINGS = {
    1: Setting(1, "x", (), "image only, train and test", "image only"),
    2: Setting(2, "xw", (), "image and tags concatenated into one input (Gaussian decoder)",
               "image + tags, one vector"),
    3: Setting(3, "x+w", (), "image and tags as two modalities, train and test", "image and tags"),
    4: Setting(4, "x+w", ("w",), "trained on both; tested with the tags set to zero", "tags zeroed at test"),
}


@dataclass(frozen=True)
class Row:
    """One cell row of the paper's tables: a model in a setting."""

    table: int
    model: str
    setting: int


TABLE_ROWS = (
    Row(1, "AE", 1), Row(1, "AE", 2), Row(1, "VAE", 1), Row(1, "VAE", 2),
    Row(2, "MAE", 3), Row(2, "MAE", 4), Row(2, "MVAE", 3), Row(2, "MVAE", 4),
)


def check_row(row: Row) -> None:
    """Raise a ValueError unless ``row.model`` is declared and runs in ``row.setting``."""
    if row.setting not in SETTINGS:
        raise ValueError(f"setting must be 1-4; found {row.setting}")
    spec = model_spec(row.model)
    if row.setting not in spec.settings:
        raise ValueError(f"{row.model} does not run in setting {row.setting}: it takes settings "
                         f"{'-'.join(map(str, spec.settings))}")


def view_data(split: Split, view: str) -> tuple[list[Modality], dict, dict]:
    """Modalities and train / test inputs of ``split`` as a model of ``view`` reads them."""
    names = tuple(m.name for m in split.modalities)
    if names != ("x", "w"):
        from .datasets import DataError
        raise DataError(f"the paper's settings (Tables 1-3) read two modalities named x and w; {split.name} has "
                        f"{list(names)}: score it with Table 4 (mvae_lib.table4.run_table4, reproduce --table 4)")
    x, w = split.modalities
    if view == "x":
        return [x], {"x": split.train["x"]}, {"x": split.test["x"]}
    if view == "xw":  # one vector, one Gaussian decoder; standardised x beside binary w
        joined = Modality("xw", x.dim + w.dim, "gaussian")
        cat = lambda d: {"xw": np.concatenate([d["x"], d["w"]], axis=1)}  # (n, Dx + Dw)
        return [joined], cat(split.train), cat(split.test)
    if view == "x+w":
        return [x, w], dict(split.train), dict(split.test)
    raise ValueError(f"unknown view {view!r}")
