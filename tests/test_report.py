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
from mvae_lib.report import BookMode, build_report, compare, findings_table, markdown_table
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
    assert "Some CPU, 2 cores" in md and "{doc}`The VAE </book/vae>` | 12.3 |" in md and "**13.3**" in md
    assert "How this book was built" not in md  # the page does not list itself
