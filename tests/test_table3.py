"""Table 3 end to end on a small split: every row scored, scores kept beside the runs, the
MAE and MVAE runs shared with Table 2, nothing computed twice."""
import pytest

import mvae_lib.runs as ex
import mvae_lib.table3 as t3
from mvae_lib import Row, run_table
from mvae_lib.present.tables import format_table3, markdown_table3
from mvae_lib.table3 import OWN, TABLE3_ROWS, EvalConfig, Row3, check_row3, run_table3

FAST = EvalConfig(K=4, n_ll=10, samples=2)


@pytest.mark.slow
def test_table3_end_to_end_reuses_table2_runs_and_caches_scores(tmp_path, tiny_preset, small_split, monkeypatch):
    monkeypatch.setattr(ex, "load_split", lambda *a, **k: small_split)
    monkeypatch.setattr(t3, "load_split", lambda *a, **k: small_split)
    kwargs = dict(dataset="mnist-halves", splits=[0], preset=tiny_preset, out_dir=tmp_path, progress=False,
                  workers=1)
    run_table([Row(2, "MAE", 3), Row(2, "MVAE", 3)], **kwargs)  # Table 2's runs exist first
    table2_runs = set((tmp_path / "runs/mnist-halves").glob("*.json"))
    res = run_table3(evaluation=FAST, **kwargs)
    runs = {p for p in (tmp_path / "runs/mnist-halves").glob("*.json") if ".table3-" not in p.name}
    assert table2_runs <= runs and len(runs) == 6  # MAE, MVAE reused; four new models trained
    assert len(list((tmp_path / "runs/mnist-halves").glob("*.table3-*.json"))) == 6
    cells = {(r["model"], r["setting"], r["metric"]): r["value"] for r in res.rows}
    for row in TABLE3_ROWS:
        for metric in ("lrap_both", "lrap_image", "map_both", "map_image", "gen_ap", "coherence"):
            assert 0 <= cells[(row.model, row.fill, metric)] <= 1
        assert ((row.model, row.fill, "ll_joint") in cells) == (row.model != "MAE")
    assert cells[("MVAE", "zeros", "lrap_both")] == cells[("MVAE", "refill", "lrap_both")]  # one run, one probe
    text = format_table3(res)
    assert all(row.label in text for row in TABLE3_ROWS)
    assert markdown_table3(res).count("\n") == len(TABLE3_ROWS) + 1

    def no_scoring(*a, **k):
        raise AssertionError("Table 3 scores were computed again")

    monkeypatch.setattr(t3, "evaluate_missing", no_scoring)
    monkeypatch.setattr(ex, "train_and_evaluate", no_scoring)
    again = run_table3(evaluation=FAST, **kwargs)
    assert again.rows == res.rows


def test_rows_are_checked():
    check_row3(Row3("MVAE", "refill"))
    check_row3(Row3("PoE"))
    with pytest.raises(ValueError, match="needs a fill"):
        check_row3(Row3("MVAE", OWN))
    with pytest.raises(ValueError, match="own encoder"):
        check_row3(Row3("MMVAE", "zeros"))
    with pytest.raises(ValueError, match="Table 3 compares"):
        check_row3(Row3("VAE", "zeros"))


def test_model_options_key_their_own_runs_and_leave_old_keys_alone(tmp_path, tiny_preset, small_split):
    from dataclasses import asdict

    from mvae_lib import runcache
    from mvae_lib.runs import ENCODINGS, RUNS_FORMAT, get_run, run_key

    old_spec = {"format": RUNS_FORMAT, "dataset": "mnist-halves", "split": 0, "model": "MVAE", "view": "x+w",
                "model_config": asdict(tiny_preset.model), "train_config": asdict(tiny_preset.train),
                "encodings": ENCODINGS}
    assert run_key("mnist-halves", 0, "MVAE", "x+w", tiny_preset) == runcache.key_of("MVAE-x_w-split0", old_spec)
    assert run_key("mnist-halves", 0, "JMVAE-kl", "x+w", tiny_preset, {"alpha": 1.0}) != \
        run_key("mnist-halves", 0, "JMVAE-kl", "x+w", tiny_preset)
    run = get_run("mnist-halves", "JMVAE-kl", 3, 0, preset=tiny_preset, out_dir=tmp_path, data=small_split,
                  progress=False, options={"alpha": 1.0})
    assert run.record["options"] == {"alpha": 1.0} and run.model().alpha == 1.0
    assert Row3("JMVAE-kl", options=(("alpha", 1.0),)).label == "JMVAE-kl (alpha=1)"


@pytest.mark.parametrize("argv,message", [
    (["reproduce", "--table", "4"], "argument --table: invalid choice: '4'"),
    (["run", "--model", "JMVAE", "--setting", "3", "--split", "0"], "--model must be one of"),
])
def test_cli_bad_table_or_model_gets_one_line(argv, message, capsys, tmp_path):
    from mvae_lib.cli import main

    try:
        code = main(argv + ["--out", str(tmp_path)])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) <= 2, err


@pytest.mark.slow
def _reproduce(tmp_path, table: str) -> int:
    """``python -m mvae_lib reproduce --table TABLE`` on split 0 with a tiny preset, into ``tmp_path``."""
    import json

    from mvae_lib.cli import main

    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps({"name": "tiny", "model": {"hidden": [8], "latent": 3},
                                  "train": {"epochs": 1, "batch_size": 500}}))
    return main(["reproduce", "--table", table, "--splits", "1", "--preset", str(preset), "--out", str(tmp_path),
                 "--quiet"])


def test_cli_prints_table3_and_writes_it(tmp_path, capsys):
    import json

    assert _reproduce(tmp_path, "3") == 0
    out = capsys.readouterr().out
    assert "Table 3 (mnist-halves" in out and all(row.label in out for row in TABLE3_ROWS)
    blob = json.loads((tmp_path / "table3-mnist-halves-tiny-sample.json").read_text())
    assert {r["model"] for r in blob["rows"]} == {row.model for row in TABLE3_ROWS}


def test_cli_all_tables_print_each_table_once(tmp_path, capsys):
    """--table all: Tables 1, 2 and 3 each once (Table 3 once, not also as an empty heading of the first)."""
    assert _reproduce(tmp_path, "all") == 0
    out = capsys.readouterr().out
    assert [out.count(f"\nTable {t} (mnist-halves") for t in (1, 2, 3)] == [1, 1, 1]
