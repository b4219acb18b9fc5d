"""Shared fixtures: tiny configs and a MIR Flickr release written in its exact layout."""
from __future__ import annotations

import numpy as np
import pytest

from mvae_lib.config import ModelConfig, Preset, TrainConfig

N_FIXTURE = 36  # rows in the fake release
FILE_ROWS = {  # the release's file names; sorted name order gives row order
    "combined-00001-of-00100.npy": 14,
    "combined-00002-of-00100.npy": 12,
    "combined-00003_0-of-00100.npy": 10,
}


@pytest.fixture(scope="session")
def small_split():
    """Split 0 of the bundled data, cut to 200 / 100 rows to keep the tests fast."""
    from mvae_lib.datasets import mnist_halves

    s = mnist_halves(0)
    keep = np.random.default_rng(0).permutation(2000)[:100]  # test rows come sorted by digit
    cut = lambda d, rows: {k: v[rows] for k, v in d.items()}
    return type(s)(s.name, 0, cut(s.train, slice(200)), cut(s.test, keep), s.y_train[:200], s.y_test[keep],
                   s.modalities, s.label_names)


@pytest.fixture
def tiny_preset() -> Preset:
    return Preset("tiny", ModelConfig(hidden=(16,), latent=4), TrainConfig(epochs=2, batch_size=8, seed=3))


def write_release(root, n_train=12, n_valid=6, n_test=18, splits=(1, 2, 3, 4, 5), rng_seed=0):
    """Write a MIR Flickr release in its public layout at the real widths (3857 / 2000 / 38)."""
    rng = np.random.default_rng(rng_seed)
    x = rng.normal(3.0, 2.0, size=(N_FIXTURE, 3857)).astype(np.float32)
    x[:, 0] = np.arange(N_FIXTURE)  # column 0 records the row number, to check file order
    counts = rng.integers(0, 3, size=(N_FIXTURE, 2000)) * (rng.random((N_FIXTURE, 2000)) < 0.01)
    counts[5] = 0  # an image with no tag from the vocabulary
    counts[7, :4] = [2, 0, 3, 1]  # counts above 1 must binarise to 1
    labels = (rng.random((N_FIXTURE, 38)) < 0.2).astype(np.float64)
    (root / "image/labelled").mkdir(parents=True)
    (root / "text").mkdir()
    (root / "splits").mkdir()
    start = 0
    offsets = {}
    for name, rows in FILE_ROWS.items():
        offsets[name] = (start, start + rows)
        start += rows
    for name in reversed(list(FILE_ROWS)):  # written out of order: the loader must sort by name
        a, b = offsets[name]
        np.save(root / "image/labelled" / name, x[a:b])
    rows_idx, cols_idx = np.nonzero(counts)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows_idx, minlength=N_FIXTURE))])
    np.savez(root / "text/text_all_2000_labelled.npz", data=counts[rows_idx, cols_idx].astype(np.float32),
             indices=cols_idx.astype(np.int32), indptr=indptr.astype(np.int32),
             shape=np.array([N_FIXTURE, 2000]))
    (root / "text/vocab.txt").write_text("".join(f"{i} tag{i}\n" for i in range(2000)))
    np.save(root / "labels.npy", labels)
    for k in splits:
        perm = np.random.default_rng(100 + k).permutation(N_FIXTURE)
        np.save(root / f"splits/train_indices_{k}.npy", perm[:n_train])
        np.save(root / f"splits/valid_indices_{k}.npy", perm[n_train:n_train + n_valid])
        np.save(root / f"splits/test_indices_{k}.npy", perm[n_train + n_valid:])
    return x, (counts > 0).astype(np.float32), labels


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "flickr"
    x, w, y = write_release(root)
    return root, x, w, y
