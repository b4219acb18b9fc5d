"""Table 4 and its data: the quadrants, seeing a subset, scoring, saving, verdicts, the command line."""
import json

import numpy as np
import pytest
import torch

from mvae_lib.config import ModelConfig, Preset, TrainConfig
from mvae_lib.datasets import DataError, QUADRANTS, join_digit, load_split, mnist_digits
from mvae_lib.models import build_model
from mvae_lib.results import Results
from mvae_lib import evaluate
from mvae_lib import table4 as t4

TINY = Preset("tiny4", ModelConfig(hidden=(8,), latent=3), TrainConfig(epochs=1, batch_size=500, seed=1))
FAST = t4.EvalConfig4(K=4, n_ll=5, samples=1)


def test_quadrants_are_the_binarised_digits_of_the_halves_splits():
    quad, halves = load_split("mnist-quadrants", 2), load_split("mnist-halves", 2)
    assert [m.name for m in quad.modalities] == list(QUADRANTS)
    assert all(m.dim == 196 and m.likelihood == "bernoulli" for m in quad.modalities)
    images, _ = mnist_digits()
    whole = join_digit(quad.train).reshape(3000, -1)
    assert set(np.unique(whole)) == {0.0, 1.0}
    assert np.array_equal(quad.y_test, halves.y_test) and np.array_equal(quad.y_train, halves.y_train)
    right = np.concatenate([quad.test["tr"].reshape(-1, 14, 14), quad.test["br"].reshape(-1, 14, 14)], 1)
    assert np.array_equal(right.reshape(2000, -1), halves.test["w"])
    binary = load_split("mnist-binary-halves", 2)
    assert np.array_equal(join_digit(binary.test), join_digit(quad.test))


def test_the_paper_settings_refuse_four_modalities_with_a_clear_message():
    from mvae_lib.settings import view_data

    with pytest.raises(DataError, match="Table 4"):
        view_data(load_split("mnist-quadrants", 0), "x+w")


def _tiny(kind, **options):
    torch.manual_seed(0)
    return build_model(kind, load_split("mnist-quadrants", 0).modalities, TINY.model, **options).eval()


def test_a_subset_view_never_reads_the_missing_quadrants():
    split = load_split("mnist-quadrants", 0)
    batch = {m: torch.as_tensor(a[:20]) for m, a in split.test.items()}
    noisy = {**batch, "tr": torch.rand(20, 196), "br": torch.rand(20, 196)}
    for kind, fill in (("MVAE", "zeros"), ("MVAE", "refill"), ("PoE", None), ("MoPoE", None), ("MMVAE+", None)):
        view = t4.SubsetView(_tiny(kind), ("tl", "bl"), fill)
        assert view.missing == ("tr", "br")
        with torch.no_grad():
            a = view.code(batch, "mean")
            b = t4.SubsetView(view.model, ("tl", "bl"), fill).code(noisy, "mean")
        torch.testing.assert_close(a, b)
    zeros = t4.SubsetView(_tiny("MVAE"), ("tl",), "zeros").completed(batch)
    assert all(float(zeros[m].abs().sum()) == 0 for m in ("tr", "bl", "br"))
    with pytest.raises(ValueError, match="fill"):
        t4.SubsetView(_tiny("MVAE"), ("tl",), None)


def test_two_log_joints_from_one_pass_of_the_decoders():
    model = _tiny("MMVAE+")
    split = load_split("mnist-quadrants", 0)
    data = {m: torch.as_tensor(a[:4]) for m, a in split.test.items()}
    with torch.no_grad():
        u = model.posterior(data).rsample(3)
        both, part = t4._log_joints(model, u, data, ("tl", "br"))
        torch.testing.assert_close(both, model.log_joint(u, data))
        torch.testing.assert_close(part, model.log_joint(u, data, ("tl", "br")))


@pytest.fixture(scope="module")
def tiny_table4(tmp_path_factory):
    out = tmp_path_factory.mktemp("table4")
    rows = (t4.Row4("MVAE", "zeros"), t4.Row4("MVAE", "refill"), t4.Row4("PoE"), t4.Row4("MoPoE"))
    results = t4.run_table4(rows, splits=[0], preset=TINY, epochs=None, out_dir=out, workers=1,
                            evaluation=FAST, progress=False)
    return rows, results, out


@pytest.mark.slow
def test_table4_scores_every_row_at_every_k_and_the_cvae_on_its_configurations(tiny_table4):
    rows, results, _ = tiny_table4
    cells = {(r["model"], r["setting"], r["metric"]) for r in results.rows}
    for row in rows:
        for k in (1, 2, 3, 4):
            assert {(row.label, k, "acc"), (row.label, k, "coherence"), (row.label, k, "acc_fit")} <= cells
        for k in (1, 2, 3):
            assert (row.label, k, "ll_cond") in cells
        assert {(row.label, 4, "ll_joint"), (row.label, 4, "acc_joint"), (row.label, 4, "bound")} <= cells
        assert (row.label, "tl+tr+bl", "coherence") in cells
    for conf in t4.SOHN_CONFIGS:
        assert {("CVAE", t4.key_of(conf), m) for m in ("coherence", "ll_cond", "ess_cond")} <= cells
    value = {(r["model"], r["setting"], r["metric"]): r["value"] for r in results.rows}
    # k = 4 coherence: the classifier on the real digits, the same for every row
    assert len({value[(row.label, 4, "coherence")] for row in rows}) == 1
    # the mean over the subsets of a size is the mean of the subsets' scores
    ones = [value[("PoE", q, "acc")] for q in QUADRANTS]
    assert value[("PoE", 1, "acc")] == pytest.approx(np.mean(ones))
    # the likelihoods belong to the model: the same whatever the fill
    assert value[("MVAE, zeros", 2, "ll_cond")] == value[("MVAE, refill", 2, "ll_cond")]
    assert all(v <= 0 for (m, s, k), v in value.items() if k in ("ll_cond", "ll_joint"))


@pytest.mark.slow
def test_table4_runs_and_scores_are_saved_and_reused(tiny_table4, monkeypatch):
    rows, results, out = tiny_table4
    saved = sorted(p.name for p in (out / "runs" / "mnist-quadrants").glob("*.table4-*.json"))
    assert len(saved) == 3 + 3  # MVAE, PoE, MoPoE and the three CVAEs

    def no_training(*args, **kwargs):
        raise AssertionError("a saved run was trained again")

    # the coherence classifier is kept once per split beside the runs, and loaded, not refitted
    kept = list((out / "runs" / "mnist-quadrants" / "classifiers").glob("classifier-split0-*.npz"))
    assert len(kept) == 1
    split = t4.scored_examples(load_split("mnist-quadrants", 0), FAST.examples)
    fitted = t4.digit_classifier(split)
    monkeypatch.setattr(evaluate, "_KEPT", {})  # a new process: nothing fitted in it yet
    monkeypatch.setattr(t4, "fit_probe", no_training)
    loaded = t4.digit_classifier(split, out)
    np.testing.assert_array_equal(loaded.weight, fitted.weight)
    np.testing.assert_array_equal(loaded.mean, fitted.mean)

    monkeypatch.setattr(t4, "train", no_training)
    monkeypatch.setattr(t4, "evaluate_quadrants", no_training)
    again = t4.run_table4(rows, splits=[0], preset=TINY, epochs=None, out_dir=out, workers=1,
                          evaluation=FAST, progress=False)
    dump = lambda rs: sorted(json.dumps(r, sort_keys=True) for r in rs)  # noqa: E731
    assert dump(again.rows) == dump(results.rows)


@pytest.mark.slow
def test_format_table4_prints_every_row_and_theirs_labelled(tiny_table4):
    from mvae_lib.present.table4 import format_table4, markdown_sohn, markdown_table4

    rows, results, _ = tiny_table4
    text = format_table4(results, rows)
    assert "Table 4 (mnist-quadrants" in text and all(row.label in text for row in rows)
    assert "Pyro reproduction: CVAE" in text and "ours: CVAE" in text
    md = markdown_table4(results, "joint", rows)
    assert md.count("\n") == 1 + len(rows) and "log p(x)" in md
    assert "log p(rest" in markdown_table4(results, "ll", rows)
    assert "theirs (Pyro's reproduction): deterministic network" in markdown_sohn(results, rows)


def _results(values):
    """Tidy Table 4 rows from {(model, setting, metric): [value per split]}."""
    return Results([{"dataset": "d", "table": 4, "model": m, "setting": s, "split": k, "metric": metric,
                     "value": v} for (m, s, metric), vs in values.items() for k, v in enumerate(vs)], "d", {})


def test_gap_growth_pairs_the_gaps_split_by_split():
    ref = t4.REFERENCE4.label
    two = _results({(ref, 2, "ll_joint"): [-100, -110, -120], ("MMVAE", 2, "ll_joint"): [-101, -112, -121]})
    four = _results({(ref, 4, "ll_joint"): [-90, -95, -99], ("MMVAE", 4, "ll_joint"): [-100, -104, -110]})
    gaps, growth = t4.gap_growth({2: two, 4: four}, models=("MMVAE",), metrics=("ll_joint",))
    assert gaps[("MMVAE", "ll_joint", 2)] == {0: -1, 1: -2, 2: -1}
    assert gaps[("MMVAE", "ll_joint", 4)] == {0: -10, 1: -9, 2: -11}
    (c,) = growth
    assert c.diffs == (-9, -7, -10) and c.verdict == "below"


def test_table4_verdicts_skip_what_the_fill_cannot_change():
    labels = [r.label for r in t4.TABLE4_ROWS]
    values = {}
    for i, label in enumerate(labels):
        for metric, k in t4.VERDICT_COLUMNS4:
            values[(label, k, metric)] = [0.1 * i + 0.01 * s for s in range(3)]
    verdicts = t4.table4_verdicts(_results(values))
    judged = {(c.a[0], c.metric, c.a[1]) for c in verdicts}
    assert ("MVAE, zeros", "ll_joint", 4) not in judged and ("MVAE, zeros", "acc", 1) in judged
    assert ("MVAE, zeros", "acc", 4) not in judged  # all four observed: no fill, the same codes
    assert ("PoE", "acc_joint", 4) not in judged and ("MoPoE", "acc_joint", 4) in judged
    columns = len(t4.VERDICT_COLUMNS4)
    zeros = columns - sum(1 for m, k in t4.VERDICT_COLUMNS4 if m in t4.MODEL_COLUMNS4 or k == 4)
    no_joint_code = sum(1 for r in t4.TABLE4_ROWS if r.model == "PoE")
    assert len(verdicts) == zeros + (len(labels) - 2) * columns - no_joint_code
    assert all(c.family == len(verdicts) for c in verdicts)


def test_cli_offers_table4(capsys):
    from mvae_lib.cli import build_parser

    args = build_parser().parse_args(["reproduce", "--table", "4"])
    assert args.table == "4"


@pytest.mark.slow
def test_settling_redoes_table4s_likelihoods_at_more_draws_and_is_saved(tiny_table4, monkeypatch):
    """At Table 4's K the settled estimate is Table 4's own (same examples, same seed); the
    other K are fresh estimates; the result is kept beside the run and reused."""
    rows, results, out = tiny_table4
    Ks = (2, FAST.K, 16)
    for model, options, key in (("PoE", None, "PoE"), ("MVAE", None, "MVAE, refill"),
                                ("CVAE", {"observed": ["tl", "bl"]}, "CVAE")):
        settled = t4.settle_quadrant_run("mnist-quadrants", model, 0, preset=TINY, out_dir=out,
                                         options=options, Ks=Ks, n_ll=FAST.n_ll)
        assert settled["K"] == list(Ks)
        if model == "CVAE":
            assert set(settled["ll_cond"]) == {"2"} and "ll_joint" not in settled
            assert settled["ll_subset"] == {"tl+bl": settled["ll_cond"]["2"]}
            table = results.cell("CVAE", "tl+bl", "ll_cond")["mean"]
            assert settled["ll_cond"]["2"][1] == pytest.approx(table, abs=1e-9)
            continue
        assert set(settled["ll_cond"]) == {"1", "2", "3"} and len(settled["ll_subset"]) == 14
        for k in (1, 2, 3):  # each size's mean is the mean of its subsets'
            own = [v for key, v in settled["ll_subset"].items() if key.count("+") + 1 == k]
            np.testing.assert_allclose(np.mean(own, 0), settled["ll_cond"][str(k)])
        for k in (1, 2, 3):
            assert len(settled["ll_cond"][str(k)]) == len(Ks)
            table = results.cell(key, k, "ll_cond")["mean"]
            assert settled["ll_cond"][str(k)][1] == pytest.approx(table, abs=1e-9)
        assert settled["ll_joint"][1] == pytest.approx(results.cell(key, 4, "ll_joint")["mean"], abs=1e-9)
        assert len({round(v, 9) for v in settled["ll_joint"]}) == len(Ks)  # fresh draws at each K

    def no_work(*args, **kwargs):
        raise AssertionError("saved settling computed again")

    monkeypatch.setattr(t4, "settle_quadrants", no_work)
    assert t4.settle_quadrant_run("mnist-quadrants", "PoE", 0, preset=TINY, out_dir=out, Ks=Ks,
                                  n_ll=FAST.n_ll)["K"] == list(Ks)


def test_settling_refuses_draws_that_do_not_increase():
    split = load_split("mnist-quadrants", 0)
    for Ks in ((), (4, 2), (0, 4), (4, 4)):
        with pytest.raises(ValueError, match="increasing"):
            t4.settle_quadrants(_tiny("PoE"), split, Ks, n_ll=3)


def test_the_settling_screen_fails_a_verdict_whose_gap_more_draws_could_close():
    from types import SimpleNamespace as V
    rows = (t4.Row4("MVAE", "zeros"), t4.Row4("MVAE", "refill"), t4.Row4("PoE"))
    ref = "MVAE, refill"
    settled = {  # log p(x) and log p(rest | 1) at K = 50, 200, 800 on the settling split
        ref: {"K": [50, 200, 800], "ll_joint": [-100.0, -99.0, -98.5], "ll_cond": {"1": [-60.0, -59.0, -58.0]},
              "ll_subset": {"bl": [-61.0, -60.0, -59.0]}},
        "PoE": {"K": [50, 200, 800], "ll_joint": [-90.0, -89.5, -89.4], "ll_cond": {"1": [-50.0, -50.0, -50.2]},
                "ll_subset": {"bl": [-52.0, -51.0, -50.0]}},
        "CVAE (bl)": {"K": [50, 200, 800], "ll_cond": {"1": [-40.0, -39.0, -38.0]},
                      "ll_subset": {"bl": [-40.0, -39.0, -38.0]}},
    }
    assert t4.settled_label("MVAE, zeros", settled, rows) == ref  # the fills share their likelihoods
    verdicts = [V(metric="ll_joint", a=("PoE", 4), verdict="above", mean=10.0),   # moved 0.1 + 0.5: passes
                V(metric="ll_cond", a=("PoE", 1), verdict="above", mean=1.1),     # moved 0.2 + 1.0: fails
                V(metric="ll_cond", a=("MVAE, zeros", 1), verdict="level", mean=0.0),  # names no side
                V(metric="acc", a=("PoE", 1), verdict="above", mean=0.1)]        # not a likelihood
    cvae = [V(metric="ll_cond", b=("PoE", "bl"), verdict="above", mean=3.0)]     # moved 1.0 + 1.0: passes
    screen = t4.screen_verdicts(verdicts, cvae, settled, 200, rows, t4.Row4("MVAE", "refill"))
    assert screen.passed == ["PoE, log p(x)", "CVAE against PoE, bl"]
    assert screen.failed == ["PoE, log p(rest | 1)"] and screen.judged == 3
    assert screen.movement == pytest.approx([0.6, 1.2, 2.0])
    ratios, extra = t4.likelihood_tail({k: v for k, v in settled.items() if k != "CVAE (bl)"})
    assert ratios == pytest.approx([0.5, 0.2]) and extra == pytest.approx([1.0, 0.25])
    settled["PoE"]["ll_joint"] = [-90.0, -89.0, -89.5]  # fell: no geometric tail to extrapolate
    assert t4.likelihood_tail(settled) is None
