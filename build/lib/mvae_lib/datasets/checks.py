"""Checks of your own arrays: each names the array, what was expected, what was found, and
what to do (:func:`mvae_lib.datasets.arrays.from_arrays` calls them)."""
from __future__ import annotations

import numpy as np

from ..models import LIKELIHOODS
from .core import DataError


def label_matrix(y: np.ndarray) -> np.ndarray:
    """(n, L) 0/1 float32 labels from checked ``y``: classes one-hot in sorted order, or ``y``."""
    if y.ndim == 2:
        return y.astype(np.float32)
    return (y[:, None] == np.unique(y)[None, :]).astype(np.float32)  # (n, classes)


def _finite(where: str, what: str, a: np.ndarray) -> None:
    bad = ~np.isfinite(a).reshape(len(a), -1).all(axis=1)
    if bad.any():
        raise DataError(f"{where}: {what}: expected finite numbers, found NaN or infinite values in row "
                        f"{int(np.argmax(bad))} ({int(bad.sum())} bad rows in all); drop or impute those rows")


def _zero_one(where: str, what: str, a: np.ndarray, hint: str) -> np.ndarray:
    bad = (a != 0) & (a != 1)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad.reshape(len(a), -1)))
        value = a.reshape(len(a), -1)[row, col].item()
        raise DataError(f"{where}: {what}: expected 0/1 values, found {value!r} in row {row}, column {col} "
                        f"({int(bad.sum())} such values); {hint}")
    return a.astype(np.uint8)


def _numeric(where: str, what: str, a) -> np.ndarray:
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.issubdtype(a.dtype, np.complexfloating):
        raise DataError(f"{where}: {what}: expected real numbers, found dtype {a.dtype}")
    return a


def check_modality(where: str, name: str, array, likelihood: str, n: int | None) -> np.ndarray:
    """``array`` as stored: (n, D), finite; 0/1 as uint8 when Bernoulli, else float32 / float64."""
    what = f"modality {name!r}"
    if likelihood not in LIKELIHOODS:
        raise DataError(f"{where}: {what}: expected a likelihood in {LIKELIHOODS}, found {likelihood!r}")
    if name == "w" and likelihood != "bernoulli":
        raise DataError(f"{where}: {what}: expected 'bernoulli' (w plays the tags: setting 4 zeroes it, Table 3 "
                        f"fills it with random bits and scores generated w by average precision); found "
                        f"{likelihood!r}; binarise it, or swap x and w")
    a = _numeric(where, what, array)
    if a.ndim != 2 or a.shape[1] < 1:
        raise DataError(f"{where}: {what}: expected a 2-d array (n, D) with D >= 1, found shape {a.shape}; "
                        "reshape a single feature to (n, 1)")
    if n is not None and len(a) != n:
        raise DataError(f"{where}: {what}: expected one row per example, {n} rows as in x, found {len(a)}")
    if likelihood == "bernoulli":
        _finite(where, what, a.astype(np.float64))
        return _zero_one(where, what, a, f"a Bernoulli modality holds bits: binarise it first, e.g. ({name} > 0)"
                                         + (", or declare it 'gaussian'" if name == "x" else ""))
    a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
    _finite(where, what, a)
    return a


def check_labels(where: str, y, n: int) -> np.ndarray:
    """``y`` as stored: (n,) int64 classes, or (n, L) 0/1 uint8."""
    y = _numeric(where, "y", y)
    if y.ndim not in (1, 2) or len(y) != n:
        raise DataError(f"{where}: y: expected ({n},) integer classes or ({n}, L) 0/1 labels, one row per "
                        f"example as in x; found shape {y.shape}")
    _finite(where, "y", y.astype(np.float64))
    if y.ndim == 2:
        return _zero_one(where, "y", y, "multi-label y is a 0/1 matrix (n, L); for classes pass a 1-d vector")
    if y.dtype != np.bool_ and not np.issubdtype(y.dtype, np.integer) and not (np.mod(y, 1) == 0).all():
        raise DataError(f"{where}: y: expected integer classes, found non-integer values such as "
                        f"{y[np.mod(y, 1) != 0][0].item()!r}; for multi-label data pass an (n, L) 0/1 matrix")
    return y.astype(np.int64)
