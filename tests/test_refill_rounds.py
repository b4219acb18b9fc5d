"""Scoring the refill after a given number of rounds (the fill chapter's choice of
REFILL_ROUNDS): the same probe, codes and seeds as Table 3's image-only column, never
reading the true tags, and kept beside the run."""
import numpy as np
import pytest

import mvae_lib.crossmodal as cm
from mvae_lib.config import ModelConfig
from mvae_lib.crossmodal import REFILL_ROUNDS, evaluate_missing, refill_scores, saved_refill_scores
from mvae_lib.datasets import mnist_halves
from mvae_lib.models import build_model
from mvae_lib.runs import get_run


@pytest.fixture(scope="module")
def three_batches():
    """Split 0 cut to 200 training and 1,200 test rows: three test batches of the scorers' 500."""
    s = mnist_halves(0)
    keep = np.random.default_rng(1).permutation(len(s.y_test))[:1200]
    cut = lambda d, rows: {k: v[rows] for k, v in d.items()}  # noqa: E731
    return type(s)(s.name, 0, cut(s.train, slice(200)), cut(s.test, keep), s.y_train[:200], s.y_test[keep],
                   s.modalities, s.label_names)


def test_rounds_zero_and_ours_are_table3s_zeros_and_refill_cells(three_batches):
    import torch

    torch.manual_seed(0)
    model = build_model("MVAE", list(three_batches.modalities), ModelConfig(hidden=(16,), latent=4)).eval()
    ours = refill_scores(model, three_batches, rounds=(REFILL_ROUNDS, 0, 1))
    assert list(ours) == sorted({0, 1, REFILL_ROUNDS})
    table3 = evaluate_missing(model, three_batches, ["zeros", "refill"], K=2, n_ll=2, samples=1)
    for r, fill in ((0, "zeros"), (REFILL_ROUNDS, "refill")):
        assert ours[r] == {"lrap": table3[fill]["lrap_image"], "map": table3[fill]["map_image"]}
    assert ours[1] != ours[0]  # a round changes the input, hence the codes


def test_the_true_tags_are_never_read(three_batches):
    import torch

    torch.manual_seed(1)
    model = build_model("MVAE", list(three_batches.modalities), ModelConfig(hidden=(16,), latent=4)).eval()
    garbage = type(three_batches)(**{**vars(three_batches), "test": {**three_batches.test,
                                                                      "w": np.full_like(three_batches.test["w"], 7.0)}})
    assert refill_scores(model, three_batches, (0, 2)) == refill_scores(model, garbage, (0, 2))


@pytest.mark.parametrize("rounds", [(), (-1,), (1.5,)])
def test_bad_rounds_are_named(three_batches, rounds):
    model = build_model("MVAE", list(three_batches.modalities), ModelConfig(hidden=(8,), latent=2))
    with pytest.raises(ValueError, match="non-negative integers"):
        refill_scores(model, three_batches, rounds)


def test_scores_are_kept_beside_the_run(tmp_path, tiny_preset, small_split, monkeypatch):
    run = get_run("mnist-halves", "MVAE", 3, 0, preset=tiny_preset, out_dir=tmp_path, data=small_split)
    first = saved_refill_scores(run, small_split, rounds=(0, 2))
    assert set(first) == {0, 2} and all(0 <= v["lrap"] <= 1 for v in first.values())
    assert len(list(run.path.parent.glob("*.refill_rounds-*.json"))) == 1

    def no_scoring(*a, **k):
        raise AssertionError("the refill scores were computed again")

    monkeypatch.setattr(cm, "refill_scores", no_scoring)
    assert saved_refill_scores(run, small_split, rounds=(2, 0)) == first
    with pytest.raises(AssertionError, match="computed again"):  # other rounds: another key
        saved_refill_scores(run, small_split, rounds=(0, 1))


def test_sampled_codes_draw_fresh_noise_in_every_batch(three_batches, monkeypatch):
    """The probe's codes are drawn with one generator per pass: the same digit in two
    batches gets two different codes (each batch seeded again would repeat the noise)."""
    import torch

    s = three_batches
    twice = lambda d: {k: np.concatenate([v[:500], v[:500]]) for k, v in d.items()}  # noqa: E731
    doubled = type(s)(s.name, 0, twice(s.test), s.test, np.concatenate([s.y_test[:500]] * 2), s.y_test,
                      s.modalities, s.label_names)  # 1,000 training rows: rows 500-999 repeat 0-499
    torch.manual_seed(0)
    model = build_model("MVAE", list(s.modalities), ModelConfig(hidden=(16,), latent=4)).eval()
    seen = []
    real_fit = cm.fit_probe
    monkeypatch.setattr(cm, "fit_probe", lambda z, y, **kw: seen.append(z) or real_fit(z, y, **kw))
    evaluate_missing(model, doubled, ["zeros"], K=2, n_ll=2, samples=1)
    refill_scores(model, doubled, rounds=(0,))
    codes = [z for z in seen if z.shape[1] == 4]  # not the coherence classifier's tags
    assert len(codes) == 2
    for z in codes:
        assert not np.allclose(z[:500], z[500:])
