"""The explorers: the images and numbers they show (against independent computations), their
errors, that they never train unless asked to, and what the book build shows instead of a widget."""
import shutil

import numpy as np
import pytest
import torch

import mvae_lib.runs as ex
import mvae_lib.present.explore as xp
import mvae_lib.present.images as im
import mvae_lib.present.widgets as wd
import mvae_lib.table3 as t3
from mvae_lib.config import ModelConfig, Preset, TrainConfig
from mvae_lib.crossmodal import MissingView, data_classifier
from mvae_lib.datasets import Split, standardize
from mvae_lib.runs import get_run
from mvae_lib.models import Modality, build_model
from mvae_lib.table3 import OWN, QUICK_EVALUATION, Row3

TINY = Preset("tiny", ModelConfig(hidden=(8,), latent=3), TrainConfig(epochs=1, batch_size=50, seed=3))
ROWS = (Row3("MAE", "zeros"), Row3("MVAE", "zeros"), Row3("MVAE", "refill"), Row3("JMVAE-kl"), Row3("MMVAE"))
ALPHA = lambda a: Row3("JMVAE-kl", options=(("alpha", a),))  # noqa: E731


@pytest.fixture(scope="module")
def models(small_split):
    """Untrained tiny models for the rows: the MVAE rows share one model, as loaded runs do."""
    torch.manual_seed(0)
    built = {kind: build_model(kind, small_split.modalities, TINY.model).eval()
             for kind in ("MAE", "MVAE", "JMVAE-kl", "MMVAE")}
    return {row: built[row.model] for row in ROWS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_split):
    """An out_dir holding two saved runs: the MVAE's and JMVAE-kl's with alpha = 1 (Table 3 scored)."""
    out = tmp_path_factory.mktemp("runs")
    kw = dict(out_dir=out, data=small_split, progress=False)
    get_run("mnist-halves", "MVAE", 3, 0, preset=TINY, **kw)
    get_run("mnist-halves", "JMVAE-kl", 3, 0, preset=TINY, options={"alpha": 1.0}, **kw)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(t3, "load_split", lambda *a, **k: small_split)
        scores = t3.score_run("mnist-halves", "JMVAE-kl", 0, preset=TINY, out_dir=out, fills=[None], options={"alpha": 1.0},
                              evaluation=QUICK_EVALUATION, device="cpu")
    return out, scores[OWN]


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("an explorer trained a run")

    monkeypatch.setattr(ex, "train_and_evaluate", refuse)


def run_files(out):
    return sorted(p.name for p in (out / "runs/mnist-halves").glob("*") if ".table3-" not in p.name)


def test_to_pixels_undoes_standardisation_of_pixels_spanning_0_to_1():
    rng = np.random.default_rng(0)
    p = rng.random((50, 6))
    p[0], p[1] = 0.0, 1.0  # every pixel blank in one image, fully inked in another
    train, test = standardize(p[:40], p[40:])
    np.testing.assert_allclose(im.to_pixels(test, train), p[40:], atol=1e-5)
    assert im.to_pixels(train.max(0) + 5, train).max() == 1.0  # beyond the training range: clipped


def test_log_likelihood_of_certain_pixels_is_clipped_not_infinite():
    w, probs = np.array([1.0, 0.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0, 0.5], dtype=np.float32)
    expected = (2 * np.log1p(-1e-6) + np.log(1e-6) + np.log(0.5)) / 4  # a wrong certainty costs log(1e-6)
    assert xp.bernoulli_log_likelihood(w, probs) == pytest.approx(expected, rel=1e-12)


def test_digit_views_match_an_independent_computation(small_split, models):
    views = xp.digit_views(small_split, models, 7, samples=4, seed=2)
    w = small_split.test["w"][7]
    assert views.index == 7 and views.label == int(small_split.y_test[7].argmax())
    assert views.left.shape == views.right.shape == (28, 14)
    np.testing.assert_array_equal(views.right.ravel(), w)
    assert 0 <= views.left.min() and views.left.max() <= 1
    assert [v.row for v in views.rows] == list(ROWS)
    batch = {m: torch.as_tensor(a[7:8]) for m, a in small_split.test.items()}
    classifier = data_classifier(small_split)
    for v in views.rows:
        model = models[v.row]
        for image in (v.x_hat, v.w_hat, v.generated):
            assert image.shape == (28, 14) and 0 <= image.min() and image.max() <= 1
        with torch.no_grad():
            z = model.code(batch, "mean")
            x_mu, (w_logits,) = model.decoders["x"](z)[0], model.decoders["w"](z)
            fill = None if v.row.fill == OWN else v.row.fill
            gen = MissingView(model, fill, small_split.train["w"].mean(0)).generate(
                batch, 4, torch.Generator().manual_seed(2))[0]
        np.testing.assert_allclose(v.w_hat.ravel(), torch.sigmoid(w_logits)[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(v.x_hat.ravel(), im.to_pixels(x_mu[0].numpy(), small_split.train["x"]), atol=1e-6)
        np.testing.assert_allclose(v.generated.ravel(), gen.numpy(), atol=1e-6)
        by_hand = torch.distributions.Bernoulli(probs=gen.double().clamp(1e-6, 1 - 1e-6)).log_prob(
            torch.as_tensor(w, dtype=torch.float64)).mean()
        assert v.log_lik == pytest.approx(float(by_hand), rel=1e-9)
        assert v.abs_error == pytest.approx(float(np.abs(w - gen.numpy()).mean()), rel=1e-6)
        assert v.predicted == int(classifier.decision_function(gen.numpy()[None]).argmax())
    mvae = [v for v in views.rows if v.row.model == "MVAE"]  # one run: one reconstruction, two fills
    np.testing.assert_array_equal(mvae[0].x_hat, mvae[1].x_hat)


@pytest.mark.parametrize("index", [-1, 100, 2.5, "3", True])
def test_a_bad_index_names_the_valid_range(small_split, models, index):
    with pytest.raises(ValueError, match=r"0\.\.99"):
        xp.digit_views(small_split, models, index)


def test_data_that_are_not_image_halves_get_a_clear_error(models):
    rng = np.random.default_rng(0)
    d = lambda n: {"x": rng.normal(size=(n, 10)).astype(np.float32),  # noqa: E731
                   "w": (rng.random((n, 7)) < 0.3).astype(np.float32)}
    tags = Split("mirflickr", 0, d(6), d(4), np.eye(3)[[0, 1, 2, 0, 1, 2]], np.eye(3)[[0, 1, 2, 0]],
                 (Modality("x", 10, "gaussian"), Modality("w", 7, "bernoulli")), ("a", "b", "c"))
    with pytest.raises(ValueError, match="need image halves.*x: 10, w: 7.*generated_tags"):
        xp.digit_views(tags, models, 0)


def test_render_digit_views_draws_one_column_per_model_with_its_numbers(small_split, models):
    views = xp.digit_views(small_split, models, 3, samples=2)
    fig = im.render_digit_views(views)
    n = len(ROWS) + 1
    assert len(fig.axes) == 2 * n
    top, bottom = fig.axes[:n], fig.axes[n:]
    assert top[0].get_title() == f"test 3\n(a {views.label})"
    for k, v in enumerate(views.rows, start=1):
        assert top[k].get_title().replace(",\n", ", ").strip() == v.row.label
        assert f"{v.log_lik:.3f} nats/px" in bottom[k].get_xlabel()
        np.testing.assert_array_equal(bottom[k].images[0].get_array()[:, 14:], v.generated)
        np.testing.assert_array_equal(top[k].images[0].get_array()[:, :14], v.x_hat)


def test_saved_rows_loads_each_saved_run_once_and_reports_the_missing(runs, monkeypatch, no_training):
    out, _ = runs
    before = run_files(out)
    loads = []
    real = ex.Run.model
    monkeypatch.setattr(ex.Run, "model", lambda self, device="cpu": loads.append(self.path) or real(self, device))
    rows = [Row3("MVAE", "zeros"), Row3("MVAE", "refill"), Row3("PoE"), ALPHA(1.0), ALPHA(0.01)]
    models, missing = xp.saved_rows("mnist-halves", rows, 0, TINY, out, device="cpu")
    assert list(models) == [Row3("MVAE", "zeros"), Row3("MVAE", "refill"), ALPHA(1.0)]
    assert models[rows[0]] is models[rows[1]] and len(loads) == 2
    assert missing == [Row3("PoE"), ALPHA(0.01)]
    assert models[ALPHA(1.0)].alpha == 1.0
    assert run_files(out) == before


def test_sweep_views_loads_saved_runs_only_and_reads_their_table3_scores(runs, small_split, no_training):
    out, scores = runs
    before = run_files(out)
    picks = [4, 0, 9]
    views = xp.sweep_views("mnist-halves", "alpha", (0.01, 1.0), 0, TINY, out, picks, device="cpu",
                           samples=3, seed=5, data=small_split)
    assert run_files(out) == before
    missing, saved = views.by_value[0.01], views.by_value[1.0]
    assert not missing.saved and missing.generated is None and not missing.path.exists()
    assert saved.saved and saved.generated.shape == (3, 28, 14) and saved.scores == scores
    model = get_run("mnist-halves", "JMVAE-kl", 3, 0, preset=TINY, out_dir=out, options={"alpha": 1.0}).model()
    batch = {m: torch.as_tensor(a[picks]) for m, a in small_split.test.items()}
    with torch.no_grad():
        gen = MissingView(model, None, small_split.train["w"].mean(0)).generate(batch, 3,
                                                                               torch.Generator().manual_seed(5))
    np.testing.assert_allclose(saved.generated.reshape(3, -1), gen.numpy(), atol=1e-6)
    w = torch.as_tensor(small_split.test["w"][picks], dtype=torch.float64)
    by_hand = torch.distributions.Bernoulli(probs=gen.double().clamp(1e-6, 1 - 1e-6)).log_prob(w).mean()
    assert saved.log_lik == pytest.approx(float(by_hand), rel=1e-9)
    fig = im.render_sweep(views, 1.0)
    assert len(fig.axes) == 6 and "alpha = 1" in fig._suptitle.get_text() and "coherence" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="no saved run for JMVAE-kl with alpha = 0.01.*train this run"):
        im.render_sweep(views, 0.01)
    with pytest.raises(ValueError, match=r"0\.\.99"):
        xp.sweep_views("mnist-halves", "alpha", (1.0,), 0, TINY, out, [100], data=small_split)


def test_digit_explorer_redraws_on_a_new_index_and_jumps_to_a_digit(small_split, models):
    state = wd.digit_explorer(small_split, models, index=5, samples=2).state
    first = state.figure
    assert state.views.index == 5 and first is not None
    state.index_box.value = 11
    assert state.views.index == 11 and state.figure is not first
    digit = int(small_split.y_test[3].argmax())
    expected = next(i for i in range(12, 100) if small_split.y_test[i, digit] == 1)
    state.digit_menu.value = digit
    assert state.index_box.value == expected == state.views.index and state.digit_menu.value is None
    assert wd.next_of_class(small_split, digit, 99) == int(np.flatnonzero(small_split.y_test[:, digit])[0])


def test_sweep_explorer_trains_only_when_the_button_is_pressed(runs, small_split, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    shutil.copytree(runs[0], out)  # the button trains into it: the other tests keep their runs
    cleared = []
    monkeypatch.setattr("IPython.display.clear_output", lambda wait=False: cleared.append(wait))
    calls = []
    real_views = xp.sweep_views
    monkeypatch.setattr(wd, "sweep_views", lambda *a, **k: calls.append(k["values"]) or real_views(*a, **k))
    state = wd.sweep_explorer("mnist-halves", "alpha", (1.0, 0.01), 0, TINY, out, [1, 2], device="cpu",
                              samples=2, data=small_split, progress=False).state
    shown = state.figure
    assert shown is not None and state.button.layout.display == "none"
    before = run_files(out)
    state.slider.value = 0.01
    assert state.figure is None and state.button.layout.display is None and "press the button" in state.message.value
    assert cleared[-1] is False  # the last value's figure goes at once: no new figure will replace it
    assert run_files(out) == before  # a slider move trains nothing
    state.slider.value = 1.0
    assert calls == [(1.0,), (0.01,)]  # 1.0 came from the cache
    state.slider.value = 0.01
    state.button.click()  # the reader asks: now it trains
    assert len(run_files(out)) == len(before) + 3  # .json, .npz, .pt of the new run
    assert state.figure is not None and state.button.layout.display == "none"
    assert 0.01 in state.cache


def test_show_explorer_in_the_book_shows_the_static_figure_and_never_makes_a_widget(monkeypatch):
    import IPython.display
    import ipywidgets
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))

    def make_widget():
        raise AssertionError("a widget was made in the book build")

    monkeypatch.setenv("MVAE_BOOK_BUILD", "1")
    fig = plt.figure()
    result = wd.show_explorer(make_widget, fig, chapter="table3")
    assert result.figure is fig and result.widget is None and shown[0] is fig and shown[1].data == result.note
    assert "static rendering" in result.note and "jupyter lab" in result.note and "book/table3.md" in result.note
    assert not any(isinstance(s, ipywidgets.Widget) for s in shown)
    result = wd.show_explorer(make_widget, plt.figure, note="see README")
    assert result.figure is shown[2] and shown[3].data == "see README"
    assert result._ipython_display_() is None  # a cell's last value: nothing shown twice
    monkeypatch.delenv("MVAE_BOOK_BUILD")
    shown.clear()
    widget = ipywidgets.Label("live")
    never = lambda: pytest.fail("the static figure was drawn for Jupyter")  # noqa: E731
    assert wd.show_explorer(lambda: widget, never).widget is widget and shown == [widget]


def test_a_chapter_on_tags_shows_a_note_instead_of_an_explorer(monkeypatch):
    import IPython.display

    from mvae_lib.book import setup

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    chapter = setup(dataset="mirflickr")
    assert chapter.show_digit_explorer(0, page="table3") is None
    assert chapter.show_sweep_explorer("alpha", (0.1, 1.0), page="subsets") is None
    assert [s.data for s in shown] == [
        "The digit explorer draws image halves; on this data set the tags are not an image.",
        "The sweep explorer draws image halves; on this data set the tags are not an image."]


def test_the_digit_explorer_reconstructs_mmvae_plus_from_its_whole_latent(small_split):
    """MMVAE+'s code is its shared part only; its reconstructions need the private codes too."""
    torch.manual_seed(0)
    plus = build_model("MMVAE+", small_split.modalities, TINY.model, private=2).eval()
    views = xp.digit_views(small_split, {Row3("MMVAE+"): plus}, 0)
    (view,) = views.rows
    assert view.x_hat.shape == im.HALF and view.w_hat.shape == im.HALF and np.isfinite(view.generated).all()
