"""The registry of data sets and your own arrays as a data set: from_arrays, the .npz layout,
content names, the checks, and one run of the whole path (a model, the probe, Table 3)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mvae_lib
from mvae_lib.datasets import (DATASETS, DataError, DatasetSpec, check_available, dataset_name, from_arrays,
                               get_dataset, load_split, register_dataset, save_npz)
from mvae_lib.datasets import arrays as arrays_module
from mvae_lib.datasets import core
from mvae_lib.datasets.splits import draw_splits

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Data sets registered by a test stay in it: a copy of the registry, the file cache and the
    variable that tells worker processes about files."""
    monkeypatch.setattr(core, "DATASETS", dict(core.DATASETS))
    monkeypatch.setattr(arrays_module, "_FILES", {})
    monkeypatch.delenv(core.FILES_ENV, raising=False)


def toy(n_per_class=10, classes=4, seed=0):
    """Two noisy views of ``classes`` clusters: x (n, 3) real, w (n, 4) bits, y (n,) classes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.normal(size=(len(y), 3)) + 3.0 * np.eye(classes, 3)[y]
    w = (rng.random((len(y), 4)) < 0.2) | (np.eye(classes, 4)[y] > 0)
    return x, w, y


def views(x, w, x_likelihood="gaussian", w_likelihood="bernoulli"):
    return {"x": (x, x_likelihood), "w": (w, w_likelihood)}


# --------------------------------------------------------------------------- the registry
def test_the_built_in_data_sets_are_declared_once():
    assert {"mnist-halves", "mirflickr"} <= set(mvae_lib.DATASETS)
    assert all(isinstance(s, DatasetSpec) and s.splits == 5 for s in (DATASETS["mnist-halves"], DATASETS["mirflickr"]))
    assert DATASETS["mirflickr"].preset == "paper" and DATASETS["mnist-halves"].preset == "small"
    assert DATASETS["mirflickr"].check is not None and DATASETS["mnist-halves"].check is None


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
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*'Your own data'"):
        load_split("cifar", 0)


# --------------------------------------------------------------------------- your own arrays
def test_single_label_arrays_become_stratified_standardised_splits():
    x, w, y = toy()
    spec = from_arrays("clusters", views(x, w), y, splits=3, test_fraction=0.3, seed=1)
    assert spec.name.startswith("clusters-") and len(spec.name) == len("clusters-") + 10 and spec.splits == 3
    s = load_split(spec.name, 2)
    assert s.name == spec.name and s.index == 2 and s.label_names == ("0", "1", "2", "3")
    assert s.y_train.sum(0).tolist() == [7] * 4 and s.y_test.sum(0).tolist() == [3] * 4  # stratified
    assert [(m.name, m.dim, m.likelihood) for m in s.modalities] == [("x", 3, "gaussian"), ("w", 4, "bernoulli")]
    assert all(a.dtype == np.float32 for a in (*s.train.values(), *s.test.values(), s.y_train, s.y_test))
    # x standardised with the training rows only, as the built-in data sets are
    train, test = draw_splits("test", y, n_splits=3, test_fraction=0.3, seed=1)[2]  # the draw is seeded
    mean, std = x[train].mean(0), x[train].std(0)
    np.testing.assert_allclose(s.train["x"], (x[train] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.test["x"], (x[test] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(s.test["w"], w[test])
    assert not np.array_equal(load_split(spec.name, 0).test["w"], s.test["w"])  # other splits


def test_multi_label_arrays_and_given_splits_are_kept_as_given():
    x, w, y = toy()
    labels = np.stack([y % 2, y >= 2, y == 3], axis=1).astype(int)  # (n, 3) 0/1
    given = [(np.arange(10, 40)[::-1], np.arange(10)), (np.arange(0, 40, 2), np.arange(1, 40, 2))]
    spec = from_arrays("multi", views(x, w), labels, splits=given, label_names=["odd", "big", "three"])
    s = load_split(spec.name, 0)
    assert spec.splits == 2 and s.label_names == ("odd", "big", "three")
    np.testing.assert_array_equal(s.y_train, labels[10:][::-1])  # the rows in the order given
    np.testing.assert_array_equal(s.test["w"], w[:10])


def test_a_file_is_named_by_its_content_and_read_anywhere(tmp_path):
    x, w, y = toy()
    path = tmp_path / "a" / "clusters.npz"
    spec = from_arrays("clusters", views(x, w), y, splits=2, path=path)
    assert dataset_name(path) == dataset_name(str(path)) == spec.name  # the same runs by name or by path
    moved = tmp_path / "elsewhere.npz"
    moved.write_bytes(path.read_bytes())
    assert dataset_name(moved) == spec.name  # keyed by content, not by where the file lives
    assert save_npz(tmp_path / "again.npz", "clusters", views(x, w), y, splits=2) == spec.name
    x2 = x.copy()
    x2[0, 0] += 1
    assert save_npz(tmp_path / "other.npz", "clusters", views(x2, w), y, splits=2) != spec.name
    assert from_arrays("clusters", views(x, w), y, splits=3).name != spec.name  # other splits, other runs
    for a, b in zip(load_split(path, 1).train.values(), load_split(spec.name, 1).train.values()):
        np.testing.assert_array_equal(a, b)
    # a fresh interpreter (as the spawned workers are) reads it by its path, and by its name
    # through the variable this process set
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = ("import sys, mvae_lib; s = mvae_lib.load_split(sys.argv[1], 1); "
            "print(s.name, len(s.y_train), len(s.y_test))")
    for name in (str(path), spec.name):
        out = subprocess.run([sys.executable, "-c", code, name], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert out.stdout.split() == [spec.name, "32", "8"], out.stderr


def test_a_hand_written_file_without_meta_or_splits_draws_them(tmp_path):
    x, w, y = toy()
    np.savez(tmp_path / "mine.npz", x=x.astype(np.float32), w=w.astype(np.uint8), y=y)
    spec = get_dataset(str(tmp_path / "mine.npz"))
    assert spec.name.startswith("mine-") and spec.splits == 5  # the stem names it; 5 splits by default
    s = load_split(tmp_path / "mine.npz", 4)
    assert s.y_train.sum(0).tolist() == [8] * 4 and s.modalities[0].likelihood == "gaussian"
    meta = {"name": "drawn", "n_splits": 2, "seed": 3, "likelihoods": {"x": "bernoulli"}}
    np.savez(tmp_path / "mine2.npz", x=w, w=w, y=y, meta=json.dumps(meta))
    spec = get_dataset(tmp_path / "mine2.npz")
    assert spec.name.startswith("drawn-") and spec.splits == 2
    assert load_split(spec.name, 1).modalities[0].likelihood == "bernoulli"


# --------------------------------------------------------------------------- bad input is named
X, W, Y = toy()


def _nan(a, row=3):
    a = a.astype(float).copy()
    a[row, 1] = np.nan
    return a


def _set(a, value, row=5, col=2):
    a = a.astype(float).copy()
    a[row, col] = value
    return a


SPLIT = (np.arange(30), np.arange(30, 40))
BAD_INPUT = {
    "modality names": (dict(modalities={"image": (X, "gaussian"), "tags": (W, "bernoulli")}),
                       r"two modalities named 'x' and 'w'.*found \['image', 'tags'\]"),
    "not a pair": (dict(modalities={"x": X, "w": (W, "bernoulli")}), r"modality 'x': expected a pair \(array"),
    "likelihood": (dict(modalities=views(X, W, "poisson")), r"modality 'x': expected a likelihood in"),
    "w not bernoulli": (dict(modalities=views(X, W, w_likelihood="gaussian")), r"modality 'w': expected 'bernoulli'"),
    "lengths": (dict(modalities=views(X, W[:39])), r"modality 'w': expected one row per example, 40 rows as in x, "
                                                   r"found 39"),
    "y length": (dict(y=Y[:30]), r"y: expected \(40,\) integer classes or \(40, L\) 0/1 labels.*found shape \(30,\)"),
    "1-d x": (dict(modalities=views(X[:, 0], W)), r"modality 'x': expected a 2-d array \(n, D\).*found shape \(40,\)"),
    "text x": (dict(modalities=views(X.astype(str), W)), r"modality 'x': expected real numbers, found dtype <U"),
    "NaN x": (dict(modalities=views(_nan(X), W)), r"modality 'x': expected finite numbers, found NaN or infinite "
                                                 r"values in row 3 \(1 bad rows in all\)"),
    "inf x": (dict(modalities=views(_set(X, np.inf, 7, 0), W)), r"values in row 7"),
    "w not 0/1": (dict(modalities=views(X, _set(W, 2.0))), r"modality 'w': expected 0/1 values, found 2.0 in row 5, "
                                                          r"column 2 .*binarise it first, e.g. \(w > 0\)"),
    "x bernoulli not 0/1": (dict(modalities=views(X, W, "bernoulli")), r"modality 'x': expected 0/1 values"),
    "NaN w": (dict(modalities=views(X, _nan(W))), r"modality 'w': expected finite numbers"),
    "labels not 0/1": (dict(y=_set(np.eye(4)[Y], 0.5)), r"y: expected 0/1 values, found 0.5"),
    "classes not integers": (dict(y=Y + 0.5), r"y: expected integer classes, found non-integer values such as 0.5"),
    "label absent from training": (dict(splits=[(np.arange(30), np.arange(30, 40))]),
                                   r"split 0: label '3' is absent from its 30 training rows.*probe cannot learn it"),
    "label never present": (dict(y=np.c_[np.eye(4)[Y], np.zeros(40)]), r"split 0: label 'label 4' is absent .*drawn "
                                                                       r"with \{'n_splits': 5"),
    "overlap": (dict(splits=[(np.arange(0, 40, 2), np.arange(0, 10))]),
                r"split 0: expected disjoint training and test rows, found 5 rows in both, e.g. \[0, 2"),
    "out of range": (dict(splits=[(np.arange(0, 40, 2), np.array([1, 3, 40]))]),
                     r"split 0, test indices: expected row indices in \[0, 40\), found 40 \(1 out of range\)"),
    "negative index": (dict(splits=[(np.arange(0, 40, 2), np.array([1, -3]))]), r"found -3"),
    "duplicate": (dict(splits=[(np.r_[np.arange(0, 40, 2), 2], np.arange(1, 40, 2))]),
                  r"split 0, train indices: expected each row once, found row 2 2 times"),
    "mask": (dict(splits=[(np.arange(40) % 2 == 0, np.arange(40) % 2 == 1)]), r"np\.flatnonzero"),
    "empty test": (dict(splits=[(np.arange(40), [])]), r"split 0, test indices: expected a non-empty 1-d array"),
    "not a pair of index sets": (dict(splits=[np.arange(40)]), r"split 0: expected a pair \(train_indices"),
    "no split": (dict(splits=[]), r"expected at least one split"),
    "one example of a class": (dict(y=np.r_[Y[:-1], 4]), r"class 4 has 1 example: a stratified split needs at least 2"),
    "test fraction": (dict(test_fraction=1.0), r"test_fraction: expected a fraction of the rows strictly between"),
    "split count": (dict(splits=0), r"expected a positive number of splits"),
    "label names": (dict(label_names=["a", "b"]), r"label_names: expected one name per label, 4 classes in y; found 2"),
    "name": (dict(name="my data/1"), r"name: expected letters, digits.*found 'my data/1'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_named(case):
    kwargs, message = BAD_INPUT[case]
    args = {"name": "toy", "modalities": views(X, W), "y": Y, **kwargs}
    with pytest.raises(DataError, match=message) as err:
        from_arrays(args.pop("name"), args.pop("modalities"), args.pop("y"), **args)
    assert str(err.value).startswith("from_arrays: ")


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


BAD_FILES = {
    "missing y": (lambda p: _write(p, x=X, w=W), r"expected arrays x, w, y.*missing \['y'\]"),
    "unexpected array": (lambda p: _write(p, x=X, w=W, y=Y, X=X), r"unexpected \['X'\]"),
    "half a split": (lambda p: _write(p, x=X, w=W, y=Y, train_indices_0=SPLIT[0]),
                     r"expected train_indices_k and test_indices_k for k = 0..0, both for each k"),
    "meta not JSON": (lambda p: _write(p, x=X, w=W, y=Y, meta="name: x"), r"meta: expected a JSON string"),
    "meta keys": (lambda p: _write(p, x=X, w=W, y=Y, meta=json.dumps({"nmae": "a"})), r"keys among .*found \['nmae'\]"),
    "truncated": (lambda p: p.write_bytes(_write(p, x=X, w=W, y=Y).read_bytes()[:200]),
                  r"cannot be read as a NumPy \.npz archive"),
    "a bad value": (lambda p: _write(p, x=X, w=_set(W, 3.0), y=Y), r"mine\.npz: modality 'w': expected 0/1 values"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_named(case, tmp_path):
    make, message = BAD_FILES[case]
    path = tmp_path / "mine.npz"
    make(path)
    with pytest.raises(DataError, match=message) as err:
        load_split(str(path), 0)
    assert str(err.value).startswith(str(path))


def test_missing_file_overwritten_file_and_bad_path(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.npz: no such file"):
        load_split(tmp_path / "nowhere.npz", 0)
    path = tmp_path / "clusters.npz"
    name = from_arrays("clusters", views(X, W), Y, path=path).name
    del core.DATASETS[name]  # as in a worker process: only the file is known
    save_npz(path, "clusters", views(X[::-1], W), Y)
    with pytest.raises(DataError, match="the file was overwritten after it was registered"):
        load_split(name, 0)
    with pytest.raises(DataError, match=r"ending in \.npz"):
        from_arrays("clusters", views(X, W), Y, path=tmp_path / "clusters.npy")


def test_the_command_line_takes_a_file_and_names_a_bad_one(tmp_path, capsys):
    from mvae_lib.cli import main

    bad = _write(tmp_path / "bad.npz", x=X, w=_set(W, 3.0), y=Y)
    with pytest.raises(SystemExit):
        main(["run", "--dataset", str(bad), "--model", "MVAE", "--setting", "3", "--split", "0"])
    err = capsys.readouterr().err.strip()
    assert "argument --dataset" in err and "modality 'w': expected 0/1 values" in err and len(err.splitlines()) == 1
    good = tmp_path / "good.npz"
    save_npz(good, "clusters", views(X, W), Y, splits=2)
    assert main(["reproduce", "--dataset", str(good), "--splits", "3", "--out", str(tmp_path)]) == 2
    assert "has 2 splits; found --splits 3" in capsys.readouterr().err


# --------------------------------------------------------------------------- the whole path
def test_own_data_end_to_end_model_probe_and_table3(tmp_path, capsys):
    from mvae_lib.cli import main
    from mvae_lib.config import ModelConfig, Preset, TrainConfig
    from mvae_lib.table3 import EvalConfig, Row3, run_table3

    x, w, y = toy(n_per_class=16, classes=3)
    path = tmp_path / "data" / "clusters.npz"
    spec = from_arrays("clusters", views(x, w), y, splits=2, path=path, label_names=["a", "b", "c"])
    preset = Preset("tiny", ModelConfig(hidden=(8,), latent=2), TrainConfig(epochs=1, batch_size=16,
                                                                            kl_warmup_epochs=0))
    out = tmp_path / "runs"
    run = mvae_lib.get_run(spec.name, "MVAE", 3, split=1, preset=preset, out_dir=out, progress=False)
    assert run.trained_now and run.path.parent == out / "runs" / spec.name
    assert run.record["dataset"] == spec.name and set(run.metrics) == {3, 4}
    assert all(0 < m["lrap"] <= 1 for m in run.metrics.values())
    assert run.latents()["y_test"].shape == (12, 3)
    # by its path, the same run (keyed by content), from the command line too
    assert mvae_lib.get_run(str(path), "MVAE", 3, 1, preset=preset, out_dir=out, progress=False).trained_now is False
    preset_file = tmp_path / "tiny.json"
    preset_file.write_text(json.dumps({"name": "tiny", "model": {"hidden": [8], "latent": 2},
                                       "train": {"epochs": 1, "batch_size": 16, "kl_warmup_epochs": 0}}))
    assert main(["run", "--dataset", str(path), "--model", "MVAE", "--setting", "3", "--split", "1",
                 "--preset", str(preset_file), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"already saved: {run.path}")
    # Table 3's scores of the MVAE with zeroed tags, on split 0 (trained now)
    res = run_table3([Row3("MVAE", "zeros")], dataset=spec.name, splits=[0], preset=preset, out_dir=out,
                     progress=False, workers=1, evaluation=EvalConfig(K=4, n_ll=10, samples=2))
    cells = {r["metric"]: r["value"] for r in res.rows}
    assert {"lrap_both", "lrap_image", "gen_ap", "coherence", "ll_joint"} <= set(cells)
    assert all(0 <= cells[k] <= 1 for k in ("lrap_both", "lrap_image", "gen_ap", "coherence"))
    assert len(list((out / "runs" / spec.name).glob("*.table3-*.json"))) == 1
    assert {p.parent for p in tmp_path.rglob("*")} <= {tmp_path, tmp_path / "data", out, out / "runs",
                                                        out / "runs" / spec.name, out / "runs" / spec.name / "classifiers"}
