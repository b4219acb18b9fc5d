"""MIR Flickr with the features of Srivastava & Salakhutdinov 2012: the release's loader.

The release (``flickr_data.tar.gz``) cannot be bundled; :func:`check_release` names each
missing file and where to get it, before any training. The book's chapter "Data" shows
the layout.
"""
from __future__ import annotations

import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from .core import DataError, DatasetSpec, Split, make_split, register_dataset

MIRFLICKR_ENV = "MIRFLICKR_ROOT"
MIRFLICKR_URL = "http://www.cs.toronto.edu/~nitish/multimodal/index.html"
MIRFLICKR_DIMS = {"x": 3857, "w": 2000, "y": 38}
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
    check_release([split], data_root)
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
    return make_split("mirflickr", split, x, w, y, train_idx, idx["test"], labels)


def check_release(splits, data_root: str | os.PathLike | None = None) -> None:
    """Raise :class:`DataError` naming every file of the release that ``splits`` need and lacks."""
    root = mirflickr_root(data_root)
    missing = sorted({f for k in splits for f in _missing(root, k)})
    if missing:
        raise DataError(
            f"MIR Flickr release at {str(root)!r} is missing {', '.join(missing)}. "
            f"Unpack flickr_data.tar.gz from {MIRFLICKR_URL} there (see the README)."
        )


MIRFLICKR = register_dataset(DatasetSpec(
    "mirflickr", MIRFLICKR_SPLITS, mirflickr, check_release,
    description="the paper's data: the release of Srivastava & Salakhutdinov 2012, see --data-root",
    preset="paper"))
