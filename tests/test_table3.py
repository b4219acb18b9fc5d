"""Table 3 end to end on a small split: every row scored, scores kept beside the runs, the
MAE and MVAE runs shared with Table 2, nothing computed twice."""
import pytest

import mvae_lib.runs as ex
import mvae_lib.table3 as t3
import mvae_lib.costs as costs
import mvae_lib.verdicts as verdicts
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
    assert table2_runs <= runs and len(runs) == 7  # MAE, MVAE reused; five new models trained
    assert len(list((tmp_path / "runs/mnist-halves").glob("*.table3-*.json"))) == 7
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
    (["reproduce", "--table", "5"], "argument --table: invalid choice: '5'"),
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


# --------------------------------------------------------------------------- joint codes, probes, caching
def test_joint_codes_of_the_mixtures(tiny_preset):
    import torch

    from mvae_lib.models import MMVAE, Modality, MoPoE
    from mvae_lib.posteriors import product_of_experts

    mods = [Modality("x", 5, "gaussian"), Modality("w", 3, "bernoulli")]
    inputs = {"x": torch.randn(6, 5), "w": torch.bernoulli(torch.full((6, 3), 0.5))}
    mmvae, mopoe = MMVAE(mods, tiny_preset.model), MoPoE(mods, tiny_preset.model)
    with torch.no_grad():
        # MMVAE: the mixture's mean, or the average of one draw from each expert
        experts = mmvae.experts(inputs)
        torch.testing.assert_close(mmvae.joint_code(inputs, "mean"), mmvae.posterior(inputs).mean)
        g = torch.Generator().manual_seed(5)
        draws = [q.rsample(1, g)[0] for q in experts]
        torch.testing.assert_close(mmvae.joint_code(inputs, "sample", torch.Generator().manual_seed(5)),
                                   (draws[0] + draws[1]) / 2)
        # MoPoE: the product of both experts, never one subset's code
        q = product_of_experts(mopoe.experts(inputs), prior=False)
        torch.testing.assert_close(mopoe.joint_code(inputs, "mean"), q.mean)
        assert not torch.allclose(mopoe.joint_code(inputs, "mean"), mopoe.posterior(inputs).mean)
        g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
        torch.testing.assert_close(mopoe.joint_code(inputs, "sample", g1), q.rsample(1, g2)[0])
    with pytest.raises(ValueError, match="mode must be"):
        mopoe.joint_code(inputs, "median")


def _score(tmp_path, tiny_preset, model, fills):
    return t3.score_run("mnist-halves", model, 0, preset=tiny_preset, out_dir=tmp_path, fills=fills,
                        evaluation=FAST, device="cpu")


def test_saved_scores_without_the_probe_columns_get_them_without_new_likelihoods(
        tmp_path, tiny_preset, small_split, monkeypatch):
    import json

    monkeypatch.setattr(ex, "load_split", lambda *a, **k: small_split)
    monkeypatch.setattr(t3, "load_split", lambda *a, **k: small_split)
    first = _score(tmp_path, tiny_preset, "MMVAE", [None])[OWN]
    assert set(t3.PROBE_METRICS) | set(t3.BASE_METRICS) | set(t3.LL_METRICS) <= set(first)
    assert first["lrap_joint"] != first["lrap_both"]  # MMVAE's codes of both are one expert's
    # scores kept before the probe columns existed: the base scores only, no version
    (path,) = (tmp_path / "runs/mnist-halves").glob("*.table3-*.json")
    blob = json.loads(path.read_text())
    blob["scores"] = {OWN: {k: v for k, v in first.items() if k not in t3.PROBE_METRICS}}
    path.write_text(json.dumps(blob))

    def no_likelihoods(*a, **k):
        raise AssertionError("the likelihoods were estimated again")

    monkeypatch.setattr(t3, "evaluate_missing", no_likelihoods)
    again = _score(tmp_path, tiny_preset, "MMVAE", [None])[OWN]
    assert again == first  # the same seeds: the same probe columns, the old likelihoods kept
    # a saved row that lacks a score of evaluate_missing is scored again, not reused
    blob = json.loads(path.read_text())
    del blob["scores"][OWN]["gen_ap"]
    path.write_text(json.dumps(blob))
    with pytest.raises(AssertionError, match="estimated again"):
        _score(tmp_path, tiny_preset, "MMVAE", [None])


def test_probe_columns_of_a_model_with_one_joint_encoder(tmp_path, tiny_preset, small_split, monkeypatch):
    monkeypatch.setattr(ex, "load_split", lambda *a, **k: small_split)
    monkeypatch.setattr(t3, "load_split", lambda *a, **k: small_split)
    scores = _score(tmp_path, tiny_preset, "MVAE", ["zeros", "mean"])
    for s in scores.values():
        assert s["lrap_joint"] == s["lrap_both"] and s["map_joint"] == s["map_both"]  # already one code
        assert 0 <= s["lrap_image_fit"] <= 1
    assert scores["zeros"]["lrap_image_fit"] != scores["mean"]["lrap_image_fit"]  # a probe per fill


def test_probe_fitted_on_image_codes_sees_what_a_shifted_code_hides(small_split):
    """A code of the image alone shifted far from the codes of pairs defeats the probe fitted on
    pairs, not a probe fitted on codes of the image alone (the exercise's point)."""
    import numpy as np

    from mvae_lib.evaluate import fit_probe, score

    z = np.eye(small_split.y_train.shape[1])[small_split.y_train.argmax(1)] * 3.0  # label in the code
    zt = np.eye(small_split.y_test.shape[1])[small_split.y_test.argmax(1)] * 3.0
    rot = np.roll(np.eye(zt.shape[1]), 1, axis=1)  # the image-only code: the same information, moved
    pairs = score(small_split.y_test, fit_probe(z, small_split.y_train).decision_function(zt @ rot))
    own = score(small_split.y_test, fit_probe(z @ rot, small_split.y_train).decision_function(zt @ rot))
    assert own["lrap"] > 0.99 and pairs["lrap"] < 0.5


# --------------------------------------------------------------------------- verdicts
def _results3(cells: dict[tuple[str, str, str], list[float]]):
    from mvae_lib.results import Results

    rows = [{"dataset": "toy", "table": 3, "model": m, "setting": f, "split": k, "metric": metric, "value": v}
            for (m, f, metric), values in cells.items() for k, v in enumerate(values)]
    return Results(rows, "toy", {})


def test_table3_verdicts_name_a_best_only_when_resolved_and_correct_the_family():
    from mvae_lib.verdicts import table3_verdicts

    base = [0.80, 0.82, 0.79, 0.81, 0.80]
    up = lambda d, jitter=0.0: [b + d + jitter * (-1) ** k for k, b in enumerate(base)]  # noqa: E731
    cells = {}
    for metric in verdicts.VERDICT_METRICS:
        cells[("MVAE", "zeros", metric)] = base
        cells[("MVAE", "refill", metric)] = base if metric in verdicts.MODEL_METRICS else up(0.05, 0.001)
        cells[("PoE", OWN, metric)] = up(0.051, 0.002)  # level with the refill; far above the zeros
        cells[("MoPoE", OWN, metric)] = up(0.10, 0.001) if metric == "gen_ap" else up(-0.01, 0.001)
    for metric, (mvae, poe, mopoe) in {"ll_joint": (-100, -99.0, -99.05),
                                       "ll_cond": (-50, -48.0, -45.0)}.items():
        for (m, f), v in {("MVAE", "zeros"): mvae, ("MVAE", "refill"): mvae, ("PoE", OWN): poe,
                          ("MoPoE", OWN): mopoe}.items():
            cells[(m, f, metric)] = [v + 0.3 * b for b in base]
    rows = [Row3("MVAE", "zeros"), Row3("MVAE", "refill"), Row3("PoE"), Row3("MoPoE")]
    v = table3_verdicts(_results3(cells), {"ll_joint": 0.2, "ll_cond": 0.2}, epochs=20, rows=rows)
    # model columns: one row per model, the MVAE's fills not compared with themselves
    assert [j.row.fill for j in v.of("reference", "lrap_both")] == [OWN, OWN]
    assert len(v.of("reference", "lrap_image")) == 3
    assert v.best("lrap_image").row == Row3("PoE") and v.best("lrap_image").verdict == "level with"
    assert v.best("gen_ap").row == Row3("MoPoE") and v.best("gen_ap").resolved
    # likelihoods: PoE and MoPoE within the resolution for log p(x, w): not tested, no best
    assert not v.best("ll_joint").in_family and v.best("ll_cond").row == Row3("MoPoE")
    ll = {j.row.model: j for j in v.of("ll", "ll_joint")}
    assert ll["MoPoE"].verdict == "not resolved: below the resolution" and ll["MVAE"].in_family
    # the family: every pair tested once, each p adjusted over all of them
    tested = [j for j in v.judged if j.in_family]
    assert all(j.comparison.family == v.family for j in tested)
    assert v.family < len(tested)  # best against runner-up repeats some reference pairs
    assert all(j.comparison.p_adjusted >= j.comparison.p_value for j in tested)


def test_no_verdict_with_two_splits():
    from mvae_lib.present.tables import best_sentence, reference_summary
    from mvae_lib.verdicts import table3_verdicts

    cells = {(m, f, metric): vals for metric in verdicts.VERDICT_METRICS + verdicts.LL_VERDICT_METRICS
             for (m, f), vals in {("MVAE", "zeros"): [0.5, 0.6], ("PoE", OWN): [0.7, 0.9]}.items()}
    v = table3_verdicts(_results3(cells), {"ll_joint": 0.1, "ll_cond": 0.1}, rows=[Row3("MVAE", "zeros"),
                                                                                    Row3("PoE")])
    assert v.family == 0 and all(j.verdict in ("too few splits to judge", "not resolved: below the resolution")
                                 for j in v.judged)
    assert "not judged" in best_sentence(v.best("lrap_image"))
    assert reference_summary(v).startswith("With 2 splits no verdict")


# --------------------------------------------------------------------------- fairness, formatting
def test_training_facts_read_the_models(tiny_preset):
    from mvae_lib.models import MMVAE, Modality, build_model

    mods = [Modality("x", 5, "gaussian"), Modality("w", 3, "bernoulli")]
    facts = {m: costs.training_facts(build_model(m, mods, tiny_preset.model))
             for m in ("MAE", "MVAE", "JMVAE-kl", "PoE", "MMVAE", "MoPoE", "MMVAE+")}
    assert facts["MMVAE"]["samples"] == 2 * MMVAE(mods, tiny_preset.model).K and "no DReG" in facts["MMVAE"]["objective"]
    assert facts["MoPoE"]["samples"] == 1 and "one subset per example" in facts["MoPoE"]["objective"]
    averaged = costs.training_facts(build_model("MoPoE", mods, tiny_preset.model, estimator="average"))
    assert averaged["samples"] == 3
    assert facts["PoE"]["samples"] == 3 and facts["MVAE"]["samples"] == 1 and facts["MMVAE+"]["samples"] == 2
    four = [Modality(q, 4, "bernoulli") for q in "abcd"]
    assert costs.training_facts(build_model("PoE", four, tiny_preset.model))["samples"] == 4 + 1 + 1
    assert "alpha = 0.1" in facts["JMVAE-kl"]["objective"] and facts["MAE"]["samples"] == 0


def test_mean_and_spread_never_wrap_in_markdown():
    from mvae_lib.present.tables import PM

    cells = {(r.model, r.fill, m): [0.8901, 0.8899, 0.8905] for r in TABLE3_ROWS for m in t3.BASE_METRICS}
    res = _results3(cells)
    md = markdown_table3(res, metrics=["lrap_both"])
    assert f"0.890{PM}0.000" in md and " ± " not in md
    text = format_table3(res)
    assert "0.890 +- 0.000" in text and "\u00a0" not in text


def test_each_metric_has_its_own_reference_line():
    from mvae_lib.present.bar_charts import interactive_table3

    cells = {(r.model, r.fill, m): [0.8 - 0.01 * i, 0.79 - 0.01 * i, 0.81]
             for i, r in enumerate(TABLE3_ROWS) for m in ("gen_ap", "coherence")}
    cells.update({("MVAE", "zeros", "coherence"): [0.5, 0.52, 0.51]})  # two different lines
    html = interactive_table3(_results3(cells), ("gen_ap", "coherence")).html()
    assert html.count("MVAE, zeros: AP of generated w") == 1 and html.count("MVAE, zeros: coherence") == 1
    assert "mvae-static" in html


def test_format_table3_prints_every_column_and_one_likelihood_row_per_model():
    from mvae_lib.results import Results

    probe = ["lrap_both", "lrap_joint", "lrap_image", "lrap_image_fit", "gen_ap", "coherence"]
    tidy = [{"table": 3, "model": r.name, "setting": r.fill, "split": k, "metric": m, "value": 0.5 + k / 100}
            for k in range(2) for r in TABLE3_ROWS
            for m in probe + ([] if r.model == "MAE" else ["ll_joint", "ess_joint", "ll_cond", "ess_cond"])]
    text = format_table3(Results(tidy, "mnist-halves", {}, "sample"))
    assert "LRAP, x and w, one code" in text and "LRAP, x only, x-only probe" in text
    ll_block = text.split("log p(x, w)", 1)[1].split("\n\n", 1)[0]
    assert ll_block.count("\nMVAE ") == 1 and "MAE" not in ll_block.replace("MVAE", "")
    assert max(len(line) for line in text.splitlines() if not line.startswith(("x only", "log-", "2 splits"))) <= 160
