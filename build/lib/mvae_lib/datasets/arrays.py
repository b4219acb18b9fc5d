"""Your own data: paired arrays ``x`` and ``w`` with labels ``y``, as a data set of the library.

:func:`from_arrays` checks the arrays, draws or checks the splits and registers the data
set, so that :func:`~mvae_lib.get_run`, :func:`~mvae_lib.run_table` and
:func:`~mvae_lib.table3.run_table3` take its name; with ``path=`` it also writes them to an
``.npz`` file (:func:`save_npz`), which the worker processes and the command line
(``--dataset FILE.npz``) read. The book's chapter "Data" runs one end to end.

The models of settings 3-4 and Table 3 read exactly two modalities, ``x`` (seen alone:
the paper's image features) and ``w`` (the one that may be missing: the paper's tags,
0/1 with a Bernoulli decoder, scored in Table 3 by the average precision of generated
``w``), so your modalities must be named ``x`` and ``w``.

The ``.npz`` file (``np.savez``; plain arrays, no pickles):

- ``x``: (n, D_x) numbers; ``w``: (n, D_w) 0/1;
- ``y``: (n,) integer classes (single-label, one-hot encoded on loading) or (n, L) 0/1
  (multi-label);
- ``train_indices_k``, ``test_indices_k`` for k = 0, 1, ...: split k's rows (disjoint; a
  row in neither is unused). Without them, splits are drawn on loading from ``meta``'s
  ``n_splits``, ``test_fraction``, ``seed`` (default 5, 0.25, 0), stratified by class for
  single-label ``y``;
- ``meta`` (optional): a JSON string ``{"name": ..., "likelihoods": {"x": "gaussian" or
  "bernoulli", "w": "bernoulli"}, "label_names": [...], "description": ...}``. Without a
  name, the file's stem is the name.

**Names and keys.** The data set is registered as ``<name>-<digest>``, the digest being the
first 10 hex digits of the SHA-1 of its arrays (as ``ArrayData.contents`` writes them:
dtypes, shapes, bytes, the splits and ``meta``). Saved runs are filed and keyed by that
*content name*, so a copied or moved file finds its runs again, and changed data (or other
splits) never reuses runs of the old data. A Gaussian ``x`` is standardised with each
split's training rows, as the built-in data sets are.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .core import DataError, DatasetSpec, Split, check_name, make_split, register_dataset, remember_file
from .checks import check_labels, check_modality, label_matrix
from .splits import check_splits, draw_splits

FORMAT = 1  # of meta; bump if the layout changes
META_KEYS = ("format", "name", "likelihoods", "label_names", "description", "n_splits", "test_fraction", "seed")
DRAW_DEFAULTS = {"n_splits": 5, "test_fraction": 0.25, "seed": 0}
SPLIT_ARRAY = re.compile(r"(train|test)_indices_(\d+)")
_ASK = "see the README, 'Your own data'"


@dataclass(frozen=True, eq=False)
class ArrayData:
    """Checked arrays of a data set of your own and its splits (build it with :func:`from_arrays`)."""

    name: str
    x: np.ndarray  # (n, D_x) float32 or float64; uint8 0/1 when Bernoulli
    w: np.ndarray  # (n, D_w) uint8 0/1
    y: np.ndarray  # (n,) int64 classes, or (n, L) uint8 0/1
    x_likelihood: str
    label_names: tuple[str, ...]
    splits: tuple[tuple[np.ndarray, np.ndarray], ...]  # (train rows, test rows) per split, int64
    description: str = ""

    @property
    def labels(self) -> np.ndarray:
        """(n, L) 0/1 float32: the classes one-hot, or ``y`` itself when multi-label."""
        return label_matrix(self.y)

    def contents(self) -> dict[str, np.ndarray]:
        """The arrays of its ``.npz`` file."""
        meta = {"format": FORMAT, "name": self.name, "likelihoods": {"x": self.x_likelihood, "w": "bernoulli"},
                "label_names": list(self.label_names), "description": self.description}
        out = {"x": self.x, "w": self.w, "y": self.y, "meta": np.array(json.dumps(meta, sort_keys=True))}
        for k, (train, test) in enumerate(self.splits):
            out[f"train_indices_{k}"], out[f"test_indices_{k}"] = train, test
        return out

    @cached_property
    def content_name(self) -> str:
        """``<name>-<digest>``: what runs are filed and keyed under (see the module's docstring)."""
        digest = hashlib.sha1()
        for key, a in sorted(self.contents().items()):
            digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
            digest.update(np.ascontiguousarray(a).tobytes())
        return f"{self.name}-{digest.hexdigest()[:10]}"

    def split(self, k: int) -> Split:
        train, test = self.splits[k]
        return make_split(self.content_name, k, self.x, self.w, self.labels, train, test, self.label_names,
                          self.x_likelihood)

    def spec(self) -> DatasetSpec:
        about = self.description or (f"your own data: x {self.x.shape[1]}-d {self.x_likelihood}, "
                                     f"w {self.w.shape[1]}-d bernoulli, {len(self.x)} rows")
        return DatasetSpec(self.content_name, len(self.splits), lambda split, data_root=None: self.split(split),
                           description=about)


def check_arrays(where: str, name: str, modalities: Mapping, y, splits, label_names, description: str,
                 ) -> ArrayData:
    """Everything :func:`from_arrays` takes, checked, with its splits drawn or checked."""
    check_name(name, f"{where}: name")
    if not isinstance(modalities, Mapping) or sorted(modalities) != ["w", "x"]:
        found = sorted(modalities) if isinstance(modalities, Mapping) else type(modalities).__name__
        raise DataError(f"{where}: expected two modalities named 'x' and 'w' (the models of settings 3-4 and "
                        f"Table 3 read exactly these: x seen alone, w the one that may be missing); found "
                        f"{found}; rename yours, e.g. {{'x': (image_features, 'gaussian'), 'w': (tags, 'bernoulli')}}")
    pairs = {}
    for m in ("x", "w"):
        value = modalities[m]
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str)):
            raise DataError(f"{where}: modality {m!r}: expected a pair (array, likelihood), e.g. "
                            f"(array, {'gaussian' if m == 'x' else 'bernoulli'!r}); found {type(value).__name__}")
        pairs[m] = value
    x = check_modality(where, "x", pairs["x"][0], pairs["x"][1], None)
    w = check_modality(where, "w", pairs["w"][0], pairs["w"][1], len(x))
    y = check_labels(where, y, len(x))
    labels = label_matrix(y)
    if label_names is None:
        label_names = [str(c) for c in np.unique(y)] if y.ndim == 1 else [f"label {j}" for j in range(y.shape[1])]
    label_names = tuple(str(s) for s in label_names)
    if len(label_names) != labels.shape[1]:
        kind = "classes in y" if y.ndim == 1 else "columns of y"
        raise DataError(f"{where}: label_names: expected one name per label, {labels.shape[1]} {kind}; "
                        f"found {len(label_names)}")
    drawn = splits if isinstance(splits, Mapping) else None  # the draw's settings, as meta holds them
    if drawn is not None:
        splits = draw_splits(where, y, **drawn)
    splits = check_splits(where, splits, labels, label_names, drawn)
    return ArrayData(name, x, w, y, pairs["x"][1], label_names, splits, str(description))


# --------------------------------------------------------------------------- the public calls
def _draw(splits, test_fraction: float, seed: int):
    """The splits as given, or the settings of their draw when ``splits`` is a count."""
    if isinstance(splits, (int, np.integer)) and not isinstance(splits, bool):
        return {"n_splits": int(splits), "test_fraction": test_fraction, "seed": seed}
    return splits


def from_arrays(name: str, modalities: Mapping[str, tuple[np.ndarray, str]], y: np.ndarray, *,
                splits: int | Sequence[tuple[Sequence[int], Sequence[int]]] = 5, test_fraction: float = 0.25,
                seed: int = 0, label_names: Sequence[str] | None = None, description: str = "",
                path: str | os.PathLike | None = None) -> DatasetSpec:
    """Your own paired arrays as a registered data set; its ``.name`` is what the runs take.

    Parameters
    ----------
    name : str
        A short name (letters, digits, ``.``, ``_``, ``-``); the data set's name is
        ``<name>-<digest of the arrays>`` (see :mod:`mvae_lib.datasets.arrays`).
    modalities : dict
        Exactly ``{"x": (array, likelihood), "w": (array, "bernoulli")}``, arrays (n, D);
        ``x``'s likelihood ``"gaussian"`` (standardised with each split's training rows) or
        ``"bernoulli"`` (0/1); ``w`` must be 0/1 (the part of the paper's tags).
    y : numpy.ndarray
        (n,) integer classes, one-hot encoded (single-label), or (n, L) 0/1 (multi-label).
        Used only by the probe; every label must occur in every split's training rows.
    splits : int or list
        How many splits to draw (a ``test_fraction`` of the rows to test on, seeded by
        ``seed`` and the split's number, stratified by class when ``y`` holds classes), or
        the splits themselves: a list of pairs of train and test row indices (disjoint).
    label_names : list of str, optional
        One per class (in sorted order) or column of ``y``.
    path : str or os.PathLike, optional
        Also write the data set to this ``.npz`` file (:func:`save_npz`). Needed when worker
        processes train it (``run_table`` with several workers, and Table 3), which find it
        through the file. Without it the data set exists in this process only (``workers=1``).

    Raises
    ------
    DataError
        Naming what is wrong (shapes, NaN, values not 0/1, labels a split cannot learn,
        overlapping or out-of-range indices) and what to do.
    """
    data = check_arrays("from_arrays", name, modalities, y, _draw(splits, test_fraction, seed), label_names,
                        description)
    spec = register_dataset(data.spec(), replace=True)  # the same name is the same content
    if path is not None:
        write_npz(path, data)
        remember_file(spec.name, path)
    return spec


def save_npz(path: str | os.PathLike, name: str, modalities: Mapping[str, tuple[np.ndarray, str]], y: np.ndarray,
             *, splits: int | Sequence = 5, test_fraction: float = 0.25, seed: int = 0,
             label_names: Sequence[str] | None = None, description: str = "") -> str:
    """Check the arrays as :func:`from_arrays` does and write them to ``path`` (an ``.npz`` file in
    the layout of :mod:`mvae_lib.datasets.arrays`, the drawn splits included); returns the data
    set's content name. ``--dataset path`` and ``load_split(path, k)`` then read it anywhere."""
    data = check_arrays("save_npz", name, modalities, y, _draw(splits, test_fraction, seed), label_names,
                        description)
    write_npz(path, data)
    return data.content_name


def write_npz(path: str | os.PathLike, data: ArrayData) -> None:
    from ..runcache import atomic_write  # never a half-written file, as for the runs

    path = Path(path)
    if path.suffix != ".npz":
        raise DataError(f"{path}: expected a file name ending in .npz (data sets are told from names by it)")
    atomic_write(path, lambda f: np.savez(f, **data.contents()))


# --------------------------------------------------------------------------- reading a file
_FILES: dict[tuple, DatasetSpec] = {}  # (path, mtime, size) -> its data set, read once per process


def read_npz(path: str | os.PathLike) -> ArrayData:
    """The checked data set of an ``.npz`` file in the layout of this module."""
    path = Path(path)
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"{where}: no such file; expected an .npz file of your own data ({_ASK})") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{where}: cannot be read as a NumPy .npz archive of plain arrays ({type(err).__name__}: "
                        f"{err}); write it with mvae_lib.save_npz ({_ASK})") from None
    missing = [k for k in ("x", "w", "y") if k not in arrays]
    unknown = sorted(k for k in arrays if k not in ("x", "w", "y", "meta") and not SPLIT_ARRAY.fullmatch(k))
    if missing or unknown:
        raise DataError(f"{where}: expected arrays x, w, y, optionally meta and train_indices_k / test_indices_k; "
                        f"missing {missing}, unexpected {unknown} ({_ASK})")
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: meta: expected a JSON string, found {str(arrays['meta'])[:60]!r} ({err})") \
                from None
        bad = sorted(set(meta) - set(META_KEYS)) if isinstance(meta, dict) else type(meta).__name__
        if bad:
            raise DataError(f"{where}: meta: expected a JSON object with keys among {list(META_KEYS)}; found {bad}")
    likelihoods = meta.get("likelihoods", {})
    if not isinstance(likelihoods, dict):
        raise DataError(f"{where}: meta: expected likelihoods as an object such as {{\"x\": \"gaussian\"}}, "
                        f"found {likelihoods!r}")
    likelihoods = {"x": "gaussian", "w": "bernoulli", **likelihoods}
    parts = sorted(k for k in arrays if SPLIT_ARRAY.fullmatch(k))
    ks = sorted({int(SPLIT_ARRAY.fullmatch(k).group(2)) for k in parts})
    if set(parts) != {f"{p}_indices_{k}" for k in range(len(ks)) for p in ("train", "test")}:
        raise DataError(f"{where}: expected train_indices_k and test_indices_k for k = 0..{max(len(ks) - 1, 0)}, "
                        f"both for each k; found {parts}")
    splits = [(arrays[f"train_indices_{k}"], arrays[f"test_indices_{k}"]) for k in range(len(ks))] or \
        {key: meta.get(key, default) for key, default in DRAW_DEFAULTS.items()}
    return check_arrays(where, meta.get("name", path.stem), {m: (arrays[m], likelihoods[m]) for m in ("x", "w")},
                        arrays["y"], splits, meta.get("label_names"), meta.get("description", ""))


def npz_dataset(path: str | os.PathLike) -> DatasetSpec:
    """The data set of the ``.npz`` file ``path``, registered under its content name (read once
    per process while the file is unchanged)."""
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except OSError:
        raise DataError(f"{path}: no such file; expected an .npz file of your own data ({_ASK})") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _FILES:
        spec = register_dataset(read_npz(path).spec(), replace=True)
        remember_file(spec.name, path)
        _FILES[key] = spec
    return _FILES[key]
