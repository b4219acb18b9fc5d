"""The interactive figures: what they draw (points, hover columns, legend), the static image
they carry for print, their errors, and the Sphinx extension that bundles BokehJS."""
from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from mvae_lib import sphinx_interactive  # noqa: E402
from mvae_lib.present import interactive  # noqa: E402
from mvae_lib.present.bar_charts import bar_chart  # noqa: E402
from mvae_lib.present.images import digit_thumbnails, png_data_uri  # noqa: E402
from mvae_lib.present.interactive import LEGEND_KEY  # noqa: E402
from mvae_lib.present.latent_maps import example_hover, latent_map  # noqa: E402


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_png_data_uri_round_trips_an_image():
    image = np.linspace(0, 1, 28 * 14).reshape(28, 14)
    back = decode(png_data_uri(image))
    assert back.shape == (28, 14)
    np.testing.assert_allclose(back / 255, image, atol=1 / 255)


def test_digit_thumbnails_put_both_halves_side_by_side():
    rng = np.random.default_rng(0)
    pixels = rng.random((50, 392))
    pixels[0], pixels[1] = 0.0, 1.0  # every pixel blank in one training digit, inked in another
    mean, std = pixels.mean(0), pixels.std(0)
    x_train = (pixels - mean) / std  # standardised as the data sets are
    x = (pixels[2:5] - mean) / std
    w = (rng.random((3, 392)) < 0.3).astype(np.float32)
    thumbs = digit_thumbnails(x, w, x_train)
    assert len(thumbs) == 3
    img = decode(thumbs[1]) / 255
    assert img.shape == (28, 28)
    np.testing.assert_allclose(img[:, 14:], w[1].reshape(28, 14), atol=1 / 255)  # the right half: the tags
    np.testing.assert_allclose(img[:, :14], pixels[3].reshape(28, 14), atol=1 / 255)  # the left: the pixels


def test_example_hover_shows_digits_or_labels(small_split):
    assert len(example_hover(small_split, np.arange(4))["thumbs"]) == 4
    mir = SimpleNamespace(test={"x": np.zeros((3, 3857)), "w": np.eye(3, 2000)}, label_names=("sky", "dog"),
                          y_test=np.array([[1, 0], [1, 1], [0, 0]]))
    assert example_hover(mir, [0, 1, 2])["summary"] == ["labels: sky; 1 tags", "labels: sky, dog; 1 tags",
                                                         "labels: no label; 1 tags"]


def maps(n=12, seed=0):
    rng = np.random.default_rng(seed)
    panels = {"AE": {"as trained": rng.normal(size=(n, 2))},
              "MVAE": {"as trained": rng.normal(size=(n, 2)), "zeroed": rng.normal(size=(n, 2)) + 3}}
    classes = [("a", "C0"), ("b", "C1"), ("c", (0.1, 0.2, 0.3, 1.0))]
    return panels, classes, rng.integers(0, 3, n)


def test_latent_map_draws_every_point_once_and_a_legend_of_classes_and_sets():
    panels, classes, class_of = maps()
    fig = plt.figure()
    figure = latent_map(panels, classes, class_of, np.arange(100, 112), split=2, thumbs=["data:x"] * 12, static=fig)
    plt.close(fig)
    assert figure.points() == 12 * 3  # AE: one set; MVAE: two
    from bokeh.models import GlyphRenderer, Legend

    legend = next(iter(figure.layout.select({"type": Legend})))
    assert [i.label.value for i in legend.items] == ["a", "b", "c", "as trained", "zeroed"]
    stand_ins = [r for r in figure.layout.select({"type": GlyphRenderer}) if LEGEND_KEY in r.tags]
    assert len(stand_ins) == 5 and all(r.js_property_callbacks for r in stand_ins)  # each hides its points
    source = figure.renderers()[0].data_source.data
    assert source["index"][0] == 100 and source["split"][0] == 2 and source["thumb"][0] == "data:x"
    html = figure.html()
    assert 'class="mvae-live"' in html and "data-root-id" in html and 'class="mvae-static"' in html
    bundle = figure._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain", "image/png"}
    json.dumps(bundle)  # a notebook can store it


def test_latent_map_rejects_points_of_the_wrong_shape():
    panels, classes, class_of = maps()
    panels["AE"]["as trained"] = panels["AE"]["as trained"][:5]
    with pytest.raises(ValueError, match=r"expected an \(12, 2\) array .* got shape \(5, 2\)"):
        latent_map(panels, classes, class_of, np.arange(12))


def test_bar_chart_holds_means_and_every_split():
    values = [[0.5, 0.7, np.nan], [0.2, 0.4, 0.3]]
    figure = bar_chart(["AE", "VAE"], {"LRAP": values}, splits=[0, 1, 2], paper=[0.4, None])
    from bokeh.models import ColumnDataSource

    bars = [s.data for s in figure.layout.select({"type": ColumnDataSource}) if "mean" in s.data]
    assert len(bars) == 1
    np.testing.assert_allclose(bars[0]["mean"], [0.6, 0.3])
    np.testing.assert_allclose(bars[0]["std"], [np.std([0.5, 0.7], ddof=1), 0.1])
    assert bars[0]["values"] == ["0.500, 0.700", "0.200, 0.400, 0.300"] and bars[0]["n"] == [2, 3]
    paper = [s.data for s in figure.layout.select({"type": ColumnDataSource})
             if "value" in s.data and "split" not in s.data]
    assert paper[0]["y"] == ["AE"] and paper[0]["value"] == [0.4]  # only the rows the paper has
    assert figure.points() == 2 + 2 * 3 + 1  # bars, split dots (a NaN is not drawn but counted), paper


def test_bar_chart_rejects_values_that_do_not_match_the_rows():
    with pytest.raises(ValueError, match="expected for each series 2 rows of 3 split values"):
        bar_chart(["AE", "VAE"], {"LRAP": [[0.5, 0.7]]}, splits=[0, 1, 2])


def test_glue_figure_shows_the_figure_live_but_not_in_a_book_build(monkeypatch):
    shown, glued = [], []
    monkeypatch.setattr(interactive, "glue", lambda name, obj: glued.append(name))
    figure = SimpleNamespace(show=lambda: shown.append(1))
    monkeypatch.setenv(interactive.BOOK_BUILD_ENV, "1")
    interactive.glue_figure("f", figure)
    assert glued == ["f"] and shown == []
    monkeypatch.delenv(interactive.BOOK_BUILD_ENV)
    interactive.glue_figure("f", figure)
    assert shown == [1]


def test_sphinx_extension_adds_bokehjs_to_pages_with_figures_only(tmp_path):
    added = []
    app = SimpleNamespace(add_js_file=added.append)
    sphinx_interactive._page_context(app, "book/vae", "page.html", {"body": "<p>no figure</p>"}, None)
    assert added == []
    sphinx_interactive._page_context(app, "book/table1", "page.html", {"body": '<div class="mvae-live">'}, None)
    assert added == [sphinx_interactive.static_name()]
    app = SimpleNamespace(outdir=str(tmp_path), builder=SimpleNamespace(format="html"))
    sphinx_interactive._copy(app, None)
    copied = tmp_path / "_static" / sphinx_interactive.static_name()
    assert copied.stat().st_size == sphinx_interactive.bokeh_js().stat().st_size > 100_000
    assert "@media print" in (tmp_path / "_static/mvae-interactive.css").read_text()


def test_sphinx_extension_leaves_out_thebe_which_cannot_run_offline():
    from sphinx.builders.html._assets import _JavaScript

    keep = [_JavaScript("_static/bokeh.js"), _JavaScript(None, body="var x = 1;")]
    context = {"script_files": keep + [_JavaScript(None, body='const THEBE_JS_URL = "https://unpkg.com/thebe"'),
                                       _JavaScript("_static/sphinx-thebe.js")]}
    sphinx_interactive._drop_thebe(None, "p", "page.html", context, None)
    assert context["script_files"] == keep


def test_a_figure_shown_live_gets_a_layout_of_its_own():
    """A Bokeh model belongs to one document: the page's HTML and Jupyter's display each
    need their own copy (showing the page's one raised "Models must be owned by only a
    single document")."""
    from bokeh.embed import components

    figure = bar_chart(["AE", "VAE"], {"LRAP": [[0.5, 0.6], [0.2, 0.3]]}, splits=[0, 1], paper=[0.4, 0.5])
    figure.html()  # the page's copy, now in a document
    fresh = figure.make()
    assert fresh is not figure.layout
    components(fresh)  # would raise if it shared models with the page's copy


def test_robust_limits_ignore_a_few_far_points():
    from mvae_lib.present.plots import robust_limits

    points = np.concatenate([np.random.default_rng(0).uniform(0, 1, (500, 2)), [[100.0, -100.0]]])
    (x0, x1), (y0, y1) = robust_limits(points)
    assert -0.2 < x0 < 0 and 1 < x1 < 1.2 and -0.2 < y0 < 0 and 1 < y1 < 1.2


def test_colour_classes_one_per_digit_or_the_presence_of_one_label():
    from mvae_lib.present.latent_maps import colour_classes

    digits = np.eye(3)[[0, 2, 1, 2]]
    class_of, classes, text = colour_classes(digits, ("0", "1", "2"), "mnist-halves")
    assert class_of.tolist() == [0, 2, 1, 2] and [n for n, _ in classes] == ["digit 0", "digit 1", "digit 2"]
    assert text == "coloured by digit"
    multi = np.array([[1, 1], [0, 1], [0, 0], [0, 1]])
    class_of, classes, text = colour_classes(multi, ("sky", "dog"), "mirflickr")
    assert class_of.tolist() == [0, 0, 2, 0] and text == "coloured by the presence of dog"
    class_of, classes, _ = colour_classes(multi, ("sky", "dog"), "mirflickr", colour_label="sky")
    assert class_of.tolist() == [0, 1, 2, 1] and classes[2][0] == "no label (1)"


def test_halves_strip_puts_digits_side_by_side_or_stacked():
    from mvae_lib.present.images import halves_strip, join_halves

    rng = np.random.default_rng(0)
    pixels = rng.random((20, 392))
    pixels[0], pixels[1] = 0.0, 1.0
    x_train = (pixels - 0.5) * 3  # an increasing affine map, as standardisation is
    w = (rng.random((3, 392)) < 0.5).astype(np.float32)
    wide, tall = halves_strip(x_train[2:5], w, x_train), halves_strip(x_train[2:5], w, x_train, axis=0)
    assert wide.shape == (28, 84) and tall.shape == (84, 28)
    np.testing.assert_allclose(wide[:, 28:56], join_halves(pixels[3], w[1])[0], atol=1e-12)
    np.testing.assert_allclose(tall[28:56], wide[:, 28:56])


def test_glue_writes_the_record_myst_nb_writes(monkeypatch):
    """Our glue (which spares each kernel importing myst-nb) against myst-nb's own, on a
    number, Markdown and a figure-like object with several MIME types."""
    import IPython.display
    import myst_nb.ext.glue
    from IPython.display import Markdown

    class Rich:
        def _repr_mimebundle_(self, include=None, exclude=None):
            return {"text/html": "<b>x</b>", "text/plain": "x"}

    for value in (0.8125, Markdown("**above**, p = 0.01"), Rich()):
        shown = []
        capture = lambda obj, raw=False, metadata=None: shown.append((obj, raw, metadata))  # noqa: E731
        monkeypatch.setattr(IPython.display, "display", capture)
        monkeypatch.setattr(myst_nb.ext.glue, "ipy_display", capture)
        interactive.glue("v", value)
        myst_nb.ext.glue.glue("v", value, display=False)
        assert len(shown) == 2 and shown[0] == shown[1], shown
        assert shown[0][2]["scrapbook"] == {"name": "v", "mime_prefix": interactive.GLUE_PREFIX}
