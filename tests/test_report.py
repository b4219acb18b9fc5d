"""The verdict rule on constructed per-split numbers, the findings as the paper states them,
the quick mode's KL warm-up, and the pages' Markdown helpers."""
from __future__ import annotations

import math

import pytest
from scipy import stats

from mvae_lib.config import get_preset
from mvae_lib.results import Results
from mvae_lib.runs import resolve_preset
from mvae_lib.paper import FINDINGS, PAPER_LRAP
from mvae_lib.table3 import QUICK_EVALUATION, EvalConfig
from mvae_lib.book import BookMode, build_report
from mvae_lib.present.tables import captioned, findings_table, markdown_table
from mvae_lib.stats import compare
from mvae_lib.train import kl_weight


def results(cells: dict[tuple[str, int], list[float]]) -> Results:
    rows = [{"dataset": "toy", "table": 1 if s <= 2 else 2, "model": m, "setting": s, "split": k,
             "metric": metric, "value": v + (0.1 if metric == "map" else 0.0)}
            for (m, s), values in cells.items() for k, v in enumerate(values) for metric in ("lrap", "map")]
    return Results(rows, "toy", {})


def test_paired_differences_resolve_what_the_spreads_hide():
    # split-to-split swings of 0.1 shared by both cells, a steady gap of 0.01: the paired
    # differences see the gap although it is ten times smaller than either cell's spread
    base = [0.5, 0.6, 0.4, 0.55, 0.45]
    r = results({("AE", 1): [b + 0.01 for b in base], ("VAE", 1): base})
    cmp = compare(r, ("AE", 1), ("VAE", 1), epochs=20)
    assert cmp.n == 5 and cmp.mean == pytest.approx(0.01)
    assert cmp.verdict == "above"
    assert compare(r, ("VAE", 1), ("AE", 1)).verdict == "below"
    assert "5 splits, 20 epochs" in cmp.describe()


def test_p_value_is_scipys_paired_t_test():
    a, b = [0.51, 0.53, 0.50, 0.55], [0.50, 0.50, 0.51, 0.52]
    cmp = compare(results({("AE", 1): a, ("VAE", 1): b}), ("AE", 1), ("VAE", 1))
    assert cmp.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert cmp.se == pytest.approx(stats.sem([x - y for x, y in zip(a, b)]))


def test_differences_of_both_signs_are_level():
    a, b = [0.50, 0.52, 0.49, 0.51, 0.50], [0.51, 0.50, 0.50, 0.50, 0.51]
    assert compare(results({("AE", 1): a, ("VAE", 1): b}), ("AE", 1), ("VAE", 1)).verdict == "level with"


@pytest.mark.parametrize("n", [1, 2])
def test_fewer_than_three_splits_get_no_verdict(n):
    # even a large, consistent gap is not judged on one or two splits
    r = results({("AE", 1): [0.9, 0.91][:n], ("VAE", 1): [0.1, 0.11][:n]})
    cmp = compare(r, ("AE", 1), ("VAE", 1), epochs=5)
    assert cmp.verdict == "too few splits to judge"
    assert f"{n} split" in cmp.describe() and "too few" in cmp.describe()


def test_identical_differences():
    r = results({("AE", 1): [0.6, 0.7, 0.8], ("VAE", 1): [0.5, 0.6, 0.7], ("MAE", 3): [0.6, 0.7, 0.8]})
    assert compare(r, ("AE", 1), ("VAE", 1)).verdict == "above"  # s_d = 0, d != 0
    assert compare(r, ("AE", 1), ("MAE", 3)).verdict == "level with"  # d = 0 everywhere
    assert math.isnan(compare(results({("AE", 1): [0.5], ("VAE", 1): [0.4]}), ("AE", 1), ("VAE", 1)).p_value)


def test_only_shared_splits_are_paired_and_metric_is_honoured():
    r = results({("AE", 1): [0.5, 0.6, 0.7, 0.8], ("VAE", 1): [0.4, 0.5, 0.6]})
    cmp = compare(r, ("AE", 1), ("VAE", 1), metric="map")
    assert cmp.n == 3 and cmp.mean == pytest.approx(0.1)
    with pytest.raises(KeyError, match="MVAE in setting 3"):
        compare(r, ("MVAE", 3), ("AE", 1))


def test_findings_are_encoded_as_the_paper_states_them():
    # each finding's expected verdicts must contain what the paper's own numbers show
    for text, a, b, expected in FINDINGS:
        gap = PAPER_LRAP[a] - PAPER_LRAP[b]
        if abs(gap) < 0.005:
            assert "level with" in expected, text
        else:
            assert ("above" if gap > 0 else "below") in expected, text
    ae_concat = next(f for f in FINDINGS if f[1:3] == (("AE", 2), ("AE", 1)))
    assert ae_concat[3] == ("below",)  # 0.517 -> 0.507: the paper says the AE gets worse


def test_findings_table_counts_only_judged_findings():
    r = results({("AE", 1): [0.6, 0.7, 0.8], ("VAE", 1): [0.5, 0.6, 0.7],
                 ("AE", 2): [0.6, 0.7, 0.8], ("VAE", 2): [0.5, 0.6]})
    comps = [(t, compare(r, a, b, epochs=3), e) for t, a, b, e in FINDINGS[:3]]
    table, held, judged = findings_table(comps)
    assert (held, judged) == (1, 2)  # AE > VAE holds; AE 2 level with AE 1 is not "below"; VAE: 2 splits
    assert "not judged" in table and "**no**" in table and "{'" not in table


def test_quick_mode_trains_at_full_kl_weight_for_most_epochs():
    quick = BookMode.make(True).train_preset().train
    betas = [kl_weight(e, quick) for e in range(quick.epochs)]
    assert sum(b == 1.0 for b in betas) >= quick.epochs // 2 + 1
    assert "KL warm-up 2 epochs instead of 5" in BookMode.make(True).banner()


def test_full_mode_presets_are_unchanged():
    # full-mode runs are keyed by the preset: it must come back unchanged, also when its
    # own epoch count is passed explicitly
    for name in ("small", "paper"):
        preset = get_preset(name)
        assert resolve_preset(name, None) == preset
        assert preset.with_epochs(preset.train.epochs) == preset
    assert BookMode.make(False).train_preset() == get_preset("small")
    assert get_preset("paper").with_epochs(20).train.kl_warmup_epochs == 10
    assert get_preset("paper").with_epochs(3).train.kl_warmup_epochs == 1


def test_markdown_table_has_caption_and_label():
    r = results({("AE", 1): [0.6, 0.7], ("AE", 2): [0.5, 0.6], ("VAE", 1): [0.5, 0.6], ("VAE", 2): [0.5, 0.6]})
    md = markdown_table(r, 1, caption="Table 1, ours.", name="tab-t1")
    assert md.startswith("```{table} Table 1, ours.") and ":name: tab-t1" in md and md.endswith("```")
    assert "0.517" in md  # the paper's value, beside ours


def test_build_report():
    assert "scripts/build_book.py" in build_report(None)
    record = {"mode": "quick", "dataset": "mnist-halves", "started": "2026-01-01T00:00:00+00:00",
              "machine": {"cpu": "Some CPU", "cores": 2, "torch_threads": 2, "device": "cpu", "torch": "2.x",
                          "python": "3.x", "platform": "Linux"},
              "chapters": [{"chapter": "book/vae", "title": "The VAE", "seconds": 12.34},
                           {"chapter": "book/mvae", "title": "The MVAE", "seconds": 1.0},
                           {"chapter": "book/build_report", "title": "How this book was built", "seconds": 5.0}]}
    md = build_report(record)
    assert "Some CPU, 2 cores" in md and "{doc}`The VAE </book/vae>` |  | 12.3 |" in md and "**13.3**" in md
    assert "How this book was built" not in md  # the page does not list itself
    assert "at a time" not in md  # a record of one chapter at a time (or from before --jobs)
    # two at a time: start times, the wall clock from first start to last end, and the sum apart
    record.update(jobs=2, wall_seconds=10.5)
    record["chapters"][0]["start"], record["chapters"][1]["start"] = 2.0, 3.25  # after the workers' start
    md = build_report(record)
    assert "ran 2 at a time" in md and "{doc}`The VAE </book/vae>` | 0.0 | 12.3 |" in md
    assert "{doc}`The MVAE </book/mvae>` | 1.2 | 1.0 |" in md
    assert md.index("at a time") < md.index("**Execution time of each chapter**")  # a paragraph of its own
    assert "from the first start to the last end** | | **10.5** |" in md and "added up | | 13.3 |" in md


def test_relation_reads_one_split_with_a_tolerance():
    from mvae_lib.stats import relation

    assert relation(0.50, 0.505) == "level with" and relation(0.52, 0.50) == "above"
    assert relation(0.48, 0.50) == "below" and relation(0.52, 0.50, tol=0.05) == "level with"


def test_compare_encodings_pairs_the_means_with_the_samples_split_by_split():
    from mvae_lib.stats import compare_encodings

    sampled = results({("VAE", 1): [0.4, 0.5, 0.45]})
    mean = results({("VAE", 1): [0.5, 0.55, 0.5]})
    cmp = compare_encodings(sampled, mean, ("VAE", 1), epochs=7)
    assert cmp.a == ("VAE-mean", 1) and cmp.b == ("VAE", 1) and cmp.epochs == 7
    assert cmp.diffs == pytest.approx((0.1, 0.05, 0.05))


def test_a_chapter_passes_its_build_to_every_run_and_table(monkeypatch):
    import mvae_lib.book as book

    calls = {}
    monkeypatch.setattr(book, "get_run", lambda *a, **k: calls.setdefault("run", (a, k)))
    monkeypatch.setattr(book, "run_table", lambda *a, **k: calls.setdefault("table", (a, k)))
    monkeypatch.setattr(book, "run_table3", lambda *a, **k: calls.setdefault("table3", (a, k)))
    chapter = book.setup(quick=True, dataset="mnist-halves", data_root="/data", device="cpu", runs_dir="runs",
                         splits=3, epochs=4)
    assert (chapter.splits, chapter.n_epochs, chapter.quick) == (3, 4, True)
    assert chapter.preset == resolve_preset("small", 4)
    assert chapter.evaluation == QUICK_EVALUATION and QUICK_EVALUATION.K < EvalConfig().K  # the quick scoring
    chapter.run("VAE", 1, progress=False)
    assert calls["run"] == (("mnist-halves", "VAE", 1, 0), {"preset": chapter.preset, "out_dir": "runs",
                                                             "device": "cpu", "data_root": "/data", "progress": False})
    chapter.table(["rows"], encoding="mean")
    assert calls["table"] == ((["rows"], "mnist-halves", 3), {"preset": chapter.preset, "out_dir": "runs",
                                                               "device": "cpu", "encoding": "mean", "data_root": "/data"})
    chapter.table3(["row"], splits=[0])
    args, kwargs = calls["table3"]
    assert args == (["row"], "mnist-halves", [0])
    assert kwargs == {"preset": chapter.preset, "out_dir": "runs", "device": "cpu", "data_root": "/data",
                      "evaluation": chapter.evaluation}
    assert "Quick build" in chapter.banner().data


def test_a_chapter_glues_cells_verdicts_and_figures(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mvae_lib.book as book
    from mvae_lib.present import interactive

    glued = {}
    monkeypatch.setattr(interactive, "glue", lambda name, value: glued.update({name: (value, False)}))
    chapter = book.setup()
    r = results({("AE", 1): [0.6, 0.7, 0.8], ("VAE", 1): [0.5, 0.6, 0.7]})
    chapter.glue_cells("t1", r, [("AE", 1)])
    assert glued["t1_AE_1"][0] == pytest.approx(0.7) and glued["t1_AE_1_std"][0] == pytest.approx(0.1)
    assert glued["t1_AE_1_paper"][0] == 0.517 and not any(d for _, d in glued.values())
    compared = chapter.glue_comparisons(r, {"ae_vs_vae": (("AE", 1), ("VAE", 1))})
    assert compared["ae_vs_vae"].verdict == "above"
    assert glued["ae_vs_vae"][0].data == compared["ae_vs_vae"].describe()
    assert f"{chapter.n_epochs} epochs" in glued["ae_vs_vae"][0].data
    fig = plt.figure()
    chapter.glue_figure("fig", fig)
    assert glued["fig"][0] is fig and not plt.fignum_exists(fig.number)  # glued, then closed


def test_read_build_record(tmp_path):
    from mvae_lib.book import read_build_record

    assert read_build_record(tmp_path / "none.json") is None
    (tmp_path / "r.json").write_text('{"mode": "quick"}')
    assert read_build_record(tmp_path / "r.json") == {"mode": "quick"}


def test_holm_matches_a_hand_computed_example():
    from mvae_lib.stats import holm

    # sorted: .005 (x4 = .02), .01 (x3 = .03), .03 (x2 = .06), .04 (x1 = .04, raised to .06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # by hand at 5%: .005 <= .05/4 and .01 <= .05/3 are rejected, .03 > .05/2 stops the procedure
    assert [p < 0.05 for p in holm([0.01, 0.04, 0.03, 0.005])] == [True, False, False, True]
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, math.nan])


def test_adjusted_verdicts_leave_out_too_few_splits():
    from mvae_lib.stats import adjust

    base = [0.5, 0.6, 0.4, 0.55, 0.45]
    r = results({("AE", 1): [b + 0.01 + 0.004 * (-1) ** k for k, b in enumerate(base)], ("VAE", 1): base,
                 ("MAE", 3): [0.5, 0.6]})
    gap = compare(r, ("AE", 1), ("VAE", 1))
    few = compare(r, ("MAE", 3), ("VAE", 1))
    assert gap.verdict == "above"  # alone: p < .05
    many = adjust([gap] + [gap] * 9 + [few])
    assert many[0].family == 10 and many[0].p_adjusted == pytest.approx(min(1, 10 * gap.p_value))
    assert many[0].verdict == "level with" and "Holm-adjusted" in many[0].describe()
    assert many[-1] == few  # two splits: outside the family, still no verdict


def test_a_caption_with_a_backtick_is_refused():
    """A backtick in a {table} fence's first line stops the fence from parsing: the table's
    Markdown would be shown as text, so captioned refuses it."""
    table = "| a |\n|--:|\n| 1 |"
    assert captioned(table, "Table 9. Plain.", "tab-x").startswith("```{table} Table 9. Plain.\n:name: tab-x")
    with pytest.raises(ValueError, match="backtick"):
        captioned(table, "Table 9. With `code`.")
