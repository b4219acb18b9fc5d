"""The registry of data sets: each declared once, read by name."""
import numpy as np
import pytest

import mvae_lib
from mvae_lib.datasets import (DATASETS, DataError, DatasetSpec, check_available, dataset_name, load_split,
                               register_dataset)
from mvae_lib.datasets import core


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Data sets registered by a test stay in it: a copy of the registry."""
    monkeypatch.setattr(core, "DATASETS", dict(core.DATASETS))


def toy(n_per_class=10, classes=4, seed=0):
    """Two noisy views of ``classes`` clusters: x (n, 3) real, w (n, 4) bits, y (n,) classes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.normal(size=(len(y), 3)) + 3.0 * np.eye(classes, 3)[y]
    w = (rng.random((len(y), 4)) < 0.2) | (np.eye(classes, 4)[y] > 0)
    return x, w, y


# --------------------------------------------------------------------------- the registry
def test_the_built_in_data_sets_are_declared_once():
    assert {"mnist-halves", "mirflickr"} <= set(mvae_lib.DATASETS)
    assert all(isinstance(s, DatasetSpec) and s.splits == 5 for s in (DATASETS["mnist-halves"], DATASETS["mirflickr"]))
    assert DATASETS["mirflickr"].preset == "paper" and DATASETS["mnist-halves"].preset == "small"
    assert DATASETS["mirflickr"].check is not None and DATASETS["mnist-halves"].check is None
    from mvae_lib import data  # the names chapters and scripts import, as before the registry

    assert data.load_split is load_split and data.DATASETS is DATASETS and data.MIRFLICKR_ENV == "MIRFLICKR_ROOT"
    assert callable(data.mnist_halves) and callable(data.mirflickr) and callable(data._mnist_5k)


def test_a_registered_data_set_is_read_by_name():
    x, w, y = toy()
    split = mvae_lib.datasets.make_split("tiny", 0, x, w, np.eye(4)[y], np.arange(0, 40, 2), np.arange(1, 40, 2),
                                         list("abcd"))
    checked = []
    register_dataset(DatasetSpec("tiny", 1, lambda k, root: split, lambda ks, root: checked.append(ks)))
    assert load_split("tiny", 0) is split and dataset_name("tiny") == "tiny"
    check_available("tiny", [0])
    assert checked == [[0]]
    with pytest.raises(DataError, match=r"tiny has splits 0..0; found \[1\]"):
        check_available("tiny", [0, 1])
    with pytest.raises(DataError, match="registered already"):
        register_dataset(DatasetSpec("tiny", 2, lambda k, root: split))
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_split("cifar", 0)
