import json

import pytest
import torch

import mvae_lib
import mvae_lib.runs as ex
import mvae_lib.table4
from mvae_lib.cli import main
from mvae_lib.crossmodal import encode
from mvae_lib import TABLE_ROWS, Row, get_run, run_table
from mvae_lib.paper import PAPER_LRAP


def test_all_four_settings_end_to_end_and_rerun_skips(tmp_path, tiny_preset, small_split, monkeypatch):
    monkeypatch.setattr(ex, "load_split", lambda *a, **k: small_split)
    res = run_table(TABLE_ROWS, "mnist-halves", splits=[0], preset=tiny_preset, out_dir=tmp_path, progress=False,
                    workers=1)
    assert len(res.rows) == 8 * 2  # 8 table rows x (LRAP, macro AP)
    assert all(0 < r["value"] <= 1 for r in res.rows)
    assert res.timing_s["train"] > 0
    runs = sorted(p.name for p in (tmp_path / "runs/mnist-halves").glob("*.json"))
    assert len(runs) == 6  # settings 3 and 4 share a run: 6 models trained, not 8
    assert not list((tmp_path / "runs").rglob("*.tmp"))
    summary = {(r["model"], r["setting"], r["metric"]): r for r in res.summary()}
    assert summary[("MVAE", 3, "lrap")]["paper"] == PAPER_LRAP[("MVAE", 3)]
    assert summary[("MVAE", 3, "map")]["paper"] is None

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(ex, "train_and_evaluate", no_training)
    again = run_table(TABLE_ROWS, "mnist-halves", splits=[0], preset=tiny_preset, out_dir=tmp_path, progress=False,
                    workers=1)
    assert again.rows == res.rows and again.timing_s["train"] == 0


@pytest.mark.slow
def test_parallel_workers_give_the_same_table(tmp_path, tiny_preset):
    kwargs = dict(dataset="mnist-halves", splits=[1], preset=tiny_preset, progress=False)
    serial = run_table(TABLE_ROWS, out_dir=tmp_path / "serial", workers=1, **kwargs)
    parallel = run_table(TABLE_ROWS, out_dir=tmp_path / "parallel", workers=2, **kwargs)
    assert len(list((tmp_path / "parallel/runs/mnist-halves").glob("*.json"))) == 6
    for a, b in zip(serial.rows, parallel.rows):
        assert (a["model"], a["setting"], a["metric"]) == (b["model"], b["setting"], b["metric"])
        assert a["value"] == b["value"]  # every CPU run is single-threaded, so workers don't matter


def test_run_record_and_latents(tmp_path, tiny_preset, small_split):
    run = get_run("mnist-halves", "MVAE", 4, 0, preset=tiny_preset, out_dir=tmp_path, data=small_split, progress=False)
    assert set(run.metrics) == {3, 4}
    assert len(run.history) == tiny_preset.train.epochs
    z = run.latents()
    assert z["z_test_s3_sample"].shape == (100, 4) and z["z_test_s4_mean"].shape == (100, 4)
    assert set(run.metrics_for("mean")) == {3, 4} and run.metrics_for("mean") != run.metrics
    assert z["y_test"].shape == (100, 10)
    model = run.model()
    assert type(model).__name__ == "MVAE" and model.config.latent == 4
    z_again = encode(model, {m: small_split.test[m] for m in ("x", "w")}, "mean")
    assert z_again.shape == (100, 4)
    saved = json.loads(run.path.read_text())
    assert saved["metrics"]["sample"] == {str(k): v for k, v in run.metrics.items()}
    # another epoch count is another run
    other = get_run("mnist-halves", "MVAE", 3, 0, preset=tiny_preset, epochs=1, out_dir=tmp_path, data=small_split,
                    progress=False)
    assert other.path != run.path and len(other.history) == 1


def test_interrupted_run_loses_finished_ones(tmp_path, tiny_preset, small_split, monkeypatch):
    monkeypatch.setattr(ex, "load_split", lambda *a, **k: small_split)
    real = ex.train_and_evaluate
    calls = []

    def crash_on_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ex, "train_and_evaluate", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_table(TABLE_ROWS, "mnist-halves", splits=[0], preset=tiny_preset, out_dir=tmp_path, progress=False,
                    workers=1)
    assert len(list((tmp_path / "runs/mnist-halves").glob("*.json"))) == 2


def test_rows_are_checked():
    with pytest.raises(ValueError, match="AE does not run in setting 3: it takes settings 1-2"):
        run_table([Row(1, "AE", 3)], splits=1)
    with pytest.raises(ValueError, match="splits 0..4"):
        run_table(TABLE_ROWS, splits=[7])
    for table in (run_table, mvae_lib.run_table3, mvae_lib.table4.run_table4):
        with pytest.raises(ValueError, match="no splits asked for"):
            table(splits=[]) if table is not run_table else table(TABLE_ROWS, splits=0)


def test_each_model_is_scored_once_with_the_fills_of_all_its_rows():
    from mvae_lib.table3 import OWN, Row3
    rows = [Row3("MVAE", "zeros"), Row3("PoE"), Row3("MVAE", "refill"), Row3("MMVAE", options=(("K", 1),))]
    assert ex.fills_by_model(rows, OWN) == {("MVAE", ()): ["zeros", "refill"], ("PoE", ()): [None],
                                            ("MMVAE", (("K", 1),)): [None]}
    assert ex.split_list(3) == [0, 1, 2] and ex.split_list((4, 1)) == [4, 1]


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "--splits", "0"], "expected a positive integer"),
    (["reproduce", "--splits", "9"], "has 5 splits"),
    (["reproduce", "--dataset", "cifar"], "invalid choice"),
    (["reproduce", "--device", "tpu"], "unknown device"),
    (["reproduce", "--dataset", "mirflickr", "--data-root", "/nonexistent"], "not a directory"),
])
def test_cli_bad_arguments_get_one_line(argv, message, capsys, tmp_path):
    try:
        code = main(argv + ["--out", str(tmp_path)])
    except SystemExit as exit_:  # argparse exits on its own errors
        code = exit_.code
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_cli_reproduce_prints_both_tables(tmp_path, capsys):
    assert main(["reproduce", "--splits", "1", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Table 1" in out and "Table 2" in out and "0.618" in out
    assert (tmp_path / "tables-mnist-halves-small-sample.json").exists()
    assert (tmp_path / "tables-mnist-halves-small-sample.csv").read_text().count("\n") == 1 + 16
    assert main(["reproduce", "--splits", "1", "--epochs", "1", "--quiet", "--encode", "mean",
                 "--out", str(tmp_path)]) == 0  # reuses the runs: both encodings were scored
    out = capsys.readouterr().out
    assert "posterior means" in out and "training 0.0 s" in out
    assert (tmp_path / "tables-mnist-halves-small-mean.json").exists()


def test_mirflickr_release_end_to_end(release, tiny_preset, tmp_path):
    """The paper's data path, on the fixture written in the release's layout: multi-label y."""
    root, *_ = release
    res = run_table(TABLE_ROWS, "mirflickr", splits=[0, 4], preset=tiny_preset, out_dir=tmp_path,
                    data_root=root, progress=False, workers=1)
    assert len(res.rows) == 2 * 8 * 2
    assert all(0 <= r["value"] <= 1 for r in res.rows)
    run = get_run("mirflickr", "MVAE", 4, 4, preset=tiny_preset, out_dir=tmp_path)
    assert run.latents()["y_test"].shape == (18, 38)


def test_a_run_trains_on_its_presets_threads_whatever_the_caller_set(tmp_path, tiny_preset, small_split,
                                                                     monkeypatch):
    """A run's numbers depend on its key alone: the thread count (which changes the order of
    floating-point sums) is fixed by the preset, not by the process that trains the run."""
    from mvae_lib.runner import run_threads

    seen = []
    real = ex.train

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(ex, "train", spy)
    before = torch.get_num_threads()
    try:
        for i, threads in enumerate((1, 2)):
            torch.set_num_threads(threads)
            get_run("mnist-halves", "AE", 1, 0, preset=tiny_preset, out_dir=tmp_path / str(i), data=small_split,
                    progress=False)
            assert torch.get_num_threads() == threads  # restored afterwards
    finally:
        torch.set_num_threads(before)
    assert seen == [run_threads(tiny_preset)] * 2 == [1, 1]
