"""What every data set is: a :class:`Split` of (x, w, y), and one :class:`DatasetSpec` declaring it.

A data set is declared once, by registering a :class:`DatasetSpec` (its name, its number
of splits, how to load a split, how to check before training that the splits can be read,
its default preset). :func:`load_split`, :func:`check_available`, the command line's
``--dataset`` and the book read the registry :data:`DATASETS`; nothing else lists data sets.

Besides a registered name, a data set may be named by the path of an ``.npz`` file in the
layout of :mod:`mvae_lib.datasets.arrays` (your own arrays). Its name is then the file's
*content name*, ``<name>-<hash of the arrays>``: saved runs are filed and keyed by it, so
they follow the data, not the place of the file.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models import Modality

FILES_ENV = "MVAE_LIB_DATASETS"  # {content name: .npz path} for the worker processes (JSON)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a name is also a folder name under runs/


class DataError(ValueError):
    """A data set is missing or malformed; the message says what was expected and what to do."""


@dataclass(frozen=True)
class Split:
    """One train/test split of a two-modality data set.

    ``train`` and ``test`` map ``"x"`` and ``"w"`` to float32 arrays of shape (n, D_m);
    ``y_train`` and ``y_test`` are (n, N_y) 0/1 label matrices (N_y labels).
    """

    name: str
    index: int
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    y_train: np.ndarray
    y_test: np.ndarray
    modalities: tuple[Modality, ...]
    label_names: tuple[str, ...]

    def __repr__(self) -> str:
        dims = ", ".join(f"{m.name}: {m.dim} {m.likelihood}" for m in self.modalities)
        return (
            f"Split({self.name!r}, index={self.index}, train={len(self.y_train)}, "
            f"test={len(self.y_test)}, {dims}, labels: {len(self.label_names)})"
        )


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Subtract the training mean and divide by the training std (1 where a column is constant)."""
    mean = train.mean(0)
    std = train.std(0)
    std[std < 1e-8] = 1.0
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def make_split(name: str, index: int, x: np.ndarray, w: np.ndarray, y: np.ndarray, train_idx, test_idx,
               label_names: Sequence[str], x_likelihood: str = "gaussian") -> Split:
    """The :class:`Split` of rows ``train_idx`` / ``test_idx``: a Gaussian ``x`` standardised
    with training rows only, a Bernoulli ``x`` and ``w`` (0/1) as float32, ``y`` as float32."""
    if x_likelihood == "gaussian":
        x_train, x_test = standardize(x[train_idx], x[test_idx])
    else:
        x_train, x_test = (x[i].astype(np.float32) for i in (train_idx, test_idx))
    w = w.astype(np.float32)
    modalities = (Modality("x", x.shape[1], x_likelihood), Modality("w", w.shape[1], "bernoulli"))
    return Split(
        name, index,
        {"x": x_train, "w": w[train_idx]}, {"x": x_test, "w": w[test_idx]},
        y[train_idx].astype(np.float32), y[test_idx].astype(np.float32),
        modalities, tuple(label_names),
    )


@dataclass(frozen=True)
class DatasetSpec:
    """One data set, declared once.

    Attributes
    ----------
    name : str
        What ``--dataset`` and ``dataset=`` take; saved runs are filed under ``runs/<name>/``
        and keyed by it (so a name must stand for one content: never reuse it for other data).
    splits : int
        The data set has splits ``0 .. splits - 1``.
    load : callable
        ``load(split, data_root) -> Split``; ``data_root`` is the ``--data-root`` folder or None.
    check : callable or None
        ``check(splits, data_root)``: raise :class:`DataError`, naming what is missing and where
        to get it, if some of ``splits`` cannot be loaded; called before any training. None:
        nothing can be missing (the data is bundled or in memory).
    description : str
        One line for ``--help`` and the README.
    preset : str
        The preset used when none is given: ``"small"`` (sized for a CPU) or ``"paper"``.
    """

    name: str
    splits: int
    load: Callable[[int, str | os.PathLike | None], Split]
    check: Callable[[list[int], str | os.PathLike | None], None] | None = None
    description: str = ""
    preset: str = "small"


#: Every declared data set by name (the built-in ones, and those of register_dataset and from_arrays).
DATASETS: dict[str, DatasetSpec] = {}


def check_name(name, what: str = "a data set's name") -> str:
    """``name`` if it can name a data set (letters, digits, ``.``, ``_``, ``-``; it becomes a folder)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise DataError(f"{what}: expected letters, digits, '.', '_' or '-', starting with a letter or "
                        f"digit (it names the folder of the saved runs); found {name!r}")
    return name


def register_dataset(spec: DatasetSpec, replace: bool = False) -> DatasetSpec:
    """Declare ``spec``: from now on ``load_split(spec.name, ...)`` and the tables read it.

    Registering is per process. The worker processes that train the grid are fresh
    interpreters: they know the data sets registered at import (the built-in ones) and the
    ``.npz`` files registered with :func:`remember_file`, not data sets registered by hand
    at run time (use ``workers=1`` for those, or write them to a file).
    """
    check_name(spec.name)
    if spec.splits < 1:
        raise DataError(f"data set {spec.name!r}: expected at least 1 split, found {spec.splits}")
    if spec.name in DATASETS and not replace and DATASETS[spec.name] != spec:
        raise DataError(f"a data set named {spec.name!r} is registered already; saved runs are keyed by the "
                        "name, so give other data another name (or pass replace=True for the same data)")
    DATASETS[spec.name] = spec
    return spec


def remember_file(name: str, path: str | os.PathLike) -> None:
    """Let this process's children (the spawned workers, commands started from it) find the
    data set ``name`` of the ``.npz`` file ``path`` by name, through ``$MVAE_LIB_DATASETS``."""
    files = json.loads(os.environ.get(FILES_ENV) or "{}")
    files[name] = str(Path(path).resolve())
    os.environ[FILES_ENV] = json.dumps(files, sort_keys=True)


def _unknown(dataset) -> DataError:
    return DataError(f"unknown dataset {str(dataset)!r}; expected one of {sorted(DATASETS)} or the path of an "
                     ".npz file of your own data (see the README, 'Your own data'). A data set made by "
                     "from_arrays without path= lives only in the process that made it: pass path= so that "
                     "worker processes can read it")


def get_dataset(dataset: str | os.PathLike | DatasetSpec) -> DatasetSpec:
    """The declaration of ``dataset``: a registered name, a path ending in ``.npz`` (read and
    registered under its content name), or a content name whose file this process or its
    parent registered (:func:`remember_file`)."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    if isinstance(dataset, str) and dataset in DATASETS:
        return DATASETS[dataset]
    from .arrays import npz_dataset  # the file format lives with the user's arrays

    if str(dataset).endswith(".npz"):
        return npz_dataset(dataset)
    path = json.loads(os.environ.get(FILES_ENV) or "{}").get(str(dataset))
    if path is None:
        raise _unknown(dataset)
    spec = npz_dataset(path)
    if spec.name != dataset:
        raise DataError(f"{path}: expected the data of {dataset!r}, found other data ({spec.name!r}): the file "
                        "was overwritten after it was registered; make the data set again (from_arrays)")
    return spec


def dataset_name(dataset: str | os.PathLike | DatasetSpec) -> str:
    """The name that runs of ``dataset`` are filed and keyed under (a file's content name)."""
    return get_dataset(dataset).name


def _out_of_range(spec: DatasetSpec, splits: Sequence[int]) -> list:
    return [k for k in splits if not (isinstance(k, (int, np.integer)) and 0 <= k < spec.splits)]


def check_available(dataset, splits, data_root: str | os.PathLike | None = None) -> None:
    """Fail fast, before any training, if ``dataset`` or some of its ``splits`` cannot be read."""
    spec = get_dataset(dataset)
    splits = list(splits)
    bad = _out_of_range(spec, splits)
    if bad:
        raise DataError(f"{spec.name} has splits 0..{spec.splits - 1}; found {bad}")
    if spec.check is not None:
        spec.check(splits, data_root)


def load_split(dataset, split: int = 0, data_root: str | os.PathLike | None = None) -> Split:
    """Load split ``split`` of ``dataset`` (a name of :data:`~mvae_lib.datasets.core.DATASETS`, or an ``.npz`` file's path)."""
    spec = get_dataset(dataset)
    if _out_of_range(spec, [split]):
        raise DataError(f"{spec.name} has splits 0..{spec.splits - 1}; found split={split}")
    return spec.load(split, data_root)
