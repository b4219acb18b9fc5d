"""Interactive figures for the rendered book and for Jupyter (Bokeh).

A chapter builds its figures twice: a static Matplotlib figure, kept for print and PDF, and
an interactive Bokeh figure (zoom, pan, hover, legend entries that hide what they name) for
the screen. :class:`InteractiveFigure` carries both and shows the right one where it is
displayed: in the rendered book the Bokeh figure, with the static image inside the same
output for printing; in Jupyter the Bokeh figure through ``bokeh.io.show``.

BokehJS is never fetched from a CDN: the book's Sphinx extension
(:mod:`mvae_lib.sphinx_interactive`) copies the BokehJS that ships inside the installed
``bokeh`` package into the built book, and ``output_notebook(INLINE)`` sends the same file to
Jupyter.
"""
from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping, Sequence

import numpy as np

BOOK_BUILD_ENV = "MVAE_BOOK_BUILD"  # set to "1" by scripts/build_book.py for the chapters' kernels


def in_book_build() -> bool:
    """True when a chapter is executed by ``scripts/build_book.py`` (the rendered book):
    explorers then show a static rendering instead of widgets, which a page cannot run."""
    return os.environ.get(BOOK_BUILD_ENV) == "1"

# The marker of each code set in a latent map, in order (Bokeh's scatter markers).
MARKERS = ("circle", "triangle", "square", "diamond", "inverted_triangle", "star")
LEGEND_KEY = "legend-key"  # tag of the legend's stand-in renderers (one point each, out of view)


def _hex(colour) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)


def png_data_uri(image: np.ndarray) -> str:
    """A grey-scale image with values in [0, 1] as a ``data:`` URI of a PNG (for tooltips:
    the page needs no file and makes no request)."""
    from PIL import Image

    pixels = (np.clip(np.asarray(image, dtype=float), 0, 1) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_pixels(x: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    """Standardised image features back to [0, 1] for display: per pixel, the training range maps to [0, 1].

    ``x`` is :math:`(p - m)/s` per pixel (:func:`mvae_lib.data.standardize`), an increasing
    affine map of the raw pixel :math:`p`, so :math:`(x - \\min x_{train}) / (\\max x_{train} -
    \\min x_{train}) = (p - \\min p) / (\\max p - \\min p)`: exactly :math:`p` for a pixel that is
    blank (0) in some training digit and fully inked (1) in another, as most pixels a stroke
    reaches are; pixels that stay faint in training are stretched. Values outside the training
    range are clipped; a constant pixel shows as 0. On split 0 of the bundled data it gives back
    the raw test pixels to a mean absolute error of 2e-5. ``x``: (..., D); ``x_train``: (n, D).
    """
    lo, hi = x_train.min(0), x_train.max(0)
    span = np.where(hi - lo > 1e-8, hi - lo, 1.0)
    return np.clip((x - lo) / span, 0.0, 1.0)


def digit_thumbnails(x: np.ndarray, w: np.ndarray, x_train: np.ndarray) -> list[str]:
    """Both halves of each digit as one 28 x 28 PNG: ``x`` (n, 392) standardised left halves
    (shown as pixels with :func:`to_pixels` and the training halves ``x_train``), ``w`` (n, 392)
    right halves in [0, 1]."""
    left = to_pixels(np.asarray(x), np.asarray(x_train)).reshape(-1, 28, 14)  # (n, 28, 14)
    right = np.asarray(w, dtype=float).reshape(-1, 28, 14)
    return [png_data_uri(np.concatenate([a, b], axis=1)) for a, b in zip(left, right)]


def example_hover(split, indices) -> dict:
    """What hovering a test example of ``split`` shows: ``{"thumbs": ...}`` with both halves of
    each digit when the modalities are image halves (MNIST halves), else ``{"summary": ...}``
    with each example's labels and its number of tags (MIR Flickr). Pass as ``**kwargs`` to
    :func:`latent_map`."""
    x, w = split.test["x"][indices], split.test["w"][indices]
    if x.shape[1] == 392 and w.shape[1] == 392:
        return {"thumbs": digit_thumbnails(x, w, split.train["x"])}
    names = split.label_names
    summary = []
    for y, tags in zip(split.y_test[indices], w):
        labels = ", ".join(names[j] for j in np.flatnonzero(y)) or "no label"
        summary.append(f"labels: {labels}; {int((tags > 0).sum())} tags")
    return {"summary": summary}


def _figure_png(fig) -> str:
    """A Matplotlib figure as base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class InteractiveFigure:
    """A Bokeh layout and, optionally, the static Matplotlib figure it stands for.

    Displayed in a page (``_repr_mimebundle_``), it gives HTML holding the Bokeh figure and,
    hidden on screen and shown in print, the static image; and the static PNG on its own for
    builds that cannot run JavaScript (LaTeX, PDF). In Jupyter, :meth:`show` displays the
    Bokeh figure (:func:`glue_figure` calls it when a chapter runs live).
    """

    def __init__(self, make, static=None, alt: str = "interactive figure"):
        self.make = make  # () -> a new Bokeh layout: a Bokeh model belongs to one document only
        self.layout = make()  # the page's; made now, so that bad input fails here
        self.alt = alt
        self._png = _figure_png(static) if static is not None else None

    def renderers(self) -> list:
        """The glyph renderers that draw data (not the legend's stand-ins)."""
        from bokeh.models import GlyphRenderer

        return [m for m in self.layout.select({"type": GlyphRenderer}) if LEGEND_KEY not in m.tags]

    def points(self) -> int:
        """How many data points the figure draws (what a reader can hover), for tests."""
        total = 0
        for r in self.renderers():
            data = r.data_source.data
            n = len(next(iter(data.values()))) if data else 0
            flt = getattr(r.view, "filter", None)
            group = getattr(flt, "group", None)
            if group is not None:  # a GroupFilter: the rows of this class
                n = sum(1 for v in data[flt.column_name] if v == group)
            total += n
        return total

    def html(self) -> str:
        from bokeh.embed import components

        script, div = components(self.layout)
        static = (f'<img class="mvae-static" alt="{self.alt}" src="data:image/png;base64,{self._png}"/>'
                  if self._png else "")
        return f'<div class="mvae-interactive"><div class="mvae-live">{div}{script}</div>{static}</div>'

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html(), "text/plain": f"[interactive figure: {self.alt}]"}
        if self._png:
            bundle["image/png"] = self._png
        return bundle

    def show(self) -> None:
        """Display the Bokeh figure in Jupyter, with BokehJS from the installed package."""
        from bokeh.io import output_notebook, show
        from bokeh.resources import INLINE

        output_notebook(INLINE, hide_banner=True)
        show(self.make())  # a layout of its own: self.layout may be in the page's document


def glue_figure(name: str, figure: InteractiveFigure) -> None:
    """Glue ``figure`` for a ``{glue:figure}`` of the page; run live, also show it here."""
    from myst_nb import glue

    glue(name, figure, display=False)
    if not in_book_build():
        figure.show()


def _limits(points: np.ndarray, lo=1, hi=99, margin=0.1):
    """Axis ranges from the lo-th and hi-th percentiles, widened by ``margin``: a few far
    codes do not squash the rest (zoom out to see them)."""
    a, b = np.percentile(points, [lo, hi], axis=0)
    pad = margin * (b - a) + 1e-9
    return (a[0] - pad[0], b[0] + pad[0]), (a[1] - pad[1], b[1] + pad[1])


def latent_map(panels: Mapping[str, Mapping[str, np.ndarray]], classes: Sequence[tuple[str, object]],
               class_of: np.ndarray, index: np.ndarray, split: int = 0, thumbs: Sequence[str] | None = None,
               summary: Sequence[str] | None = None, static=None, axes=("PC 1", "PC 2"), ncols: int = 2,
               size: tuple[int, int] = (250, 240), alt: str = "latent map") -> InteractiveFigure:
    """Zoomable maps of 2-d codes, one panel per entry of ``panels``.

    Parameters
    ----------
    panels : mapping
        Panel title -> {code set name -> (n, 2) array}: the same n examples in every set
        (e.g. ``{"MVAE": {"setting 3": xy3, "setting 4 (tags zeroed)": xy4}}``). Each set gets
        its marker (:data:`MARKERS`, in order of first appearance).
    classes : sequence of (name, colour)
        The colour classes; ``class_of`` (n,) gives each example's class index.
    index : (n,) array
        Each example's index in the split's test set, shown on hover with ``split``.
    thumbs, summary : sequences of n strings, optional
        A ``data:`` image of each example (both halves of the digit) and/or a line of text
        (e.g. an image's labels and tags), shown on hover.

    A legend beside the panels lists the classes and the code sets; clicking an entry hides
    (or shows) it in every panel.
    """
    args = (panels, classes, class_of, index, split, thumbs, summary, axes, ncols, size)
    return InteractiveFigure(lambda: _latent_layout(*args), static=static, alt=alt)


def _latent_layout(panels, classes, class_of, index, split, thumbs, summary, axes, ncols, size):
    from bokeh.layouts import gridplot, row
    from bokeh.models import (CDSView, ColumnDataSource, CustomJS, GroupFilter, HoverTool, Legend,
                              LegendItem, Range1d)
    from bokeh.plotting import figure

    class_of = np.asarray(class_of)
    n = len(class_of)
    sets = list(dict.fromkeys(s for p in panels.values() for s in p))
    if len(sets) > len(MARKERS):
        raise ValueError(f"latent_map draws at most {len(MARKERS)} code sets per figure, got {len(sets)}: {sets}")
    columns = {"cls": [str(c) for c in class_of], "label": [classes[c][0] for c in class_of],
               "index": [int(i) for i in index], "split": [split] * n}
    tooltip = ""
    if thumbs is not None:
        columns["thumb"] = list(thumbs)
        tooltip += ('<img src="@thumb" width="84" height="84" '
                    'style="image-rendering: pixelated; border: 1px solid #999; margin-bottom: 2px"/>')
    if summary is not None:
        columns["summary"] = list(summary)
    for p, (title, by_set) in enumerate(panels.items()):
        for s, name in enumerate(sets):
            if name in by_set:
                xy = np.asarray(by_set[name], dtype=float)
                if xy.shape != (n, 2):
                    raise ValueError(f"latent_map: panel {title!r}, set {name!r}: expected an ({n}, 2) array "
                                     f"(one 2-d point per example), got shape {xy.shape}")
                xy = np.round(xy, 3)  # plenty for a screen, and a page half the size
                columns[f"x{p}_{s}"], columns[f"y{p}_{s}"] = xy[:, 0].tolist(), xy[:, 1].tolist()
    source = ColumnDataSource(columns)
    tooltip += ('<div><b>@label</b></div><div>split @split, test example @index</div>'
                '<div style="color: #555">$name</div>')
    if summary is not None:
        tooltip += '<div style="max-width: 220px; white-space: normal">@summary</div>'
    tooltip = f'<div style="font-size: 12px">{tooltip}</div>'

    figures, drawn = [], []  # drawn: (renderer, set index, class index)
    for p, (title, by_set) in enumerate(panels.items()):
        pts = np.concatenate([np.asarray(v, dtype=float) for v in by_set.values()])
        (x0, x1), (y0, y1) = _limits(pts)
        fig = figure(width=size[0], height=size[1], title=title, x_range=Range1d(x0, x1),
                     y_range=Range1d(y0, y1), tools="pan,wheel_zoom,box_zoom,reset,save",
                     active_drag="pan", toolbar_location="above")
        fig.xaxis.axis_label, fig.yaxis.axis_label = axes
        fig.title.text_font_size = "10pt"
        panel_renderers = []
        for s, name in enumerate(sets):
            if name not in by_set:
                continue
            for c, (_, colour) in enumerate(classes):
                if not (class_of == c).any():
                    continue
                r = fig.scatter(f"x{p}_{s}", f"y{p}_{s}", source=source, marker=MARKERS[s], size=5,
                                view=CDSView(filter=GroupFilter(column_name="cls", group=str(c))),
                                color=_hex(colour), alpha=0.75 if s == 0 else 0.6, name=name)
                drawn.append((r, s, c))
                panel_renderers.append(r)
        fig.add_tools(HoverTool(renderers=panel_renderers, tooltips=tooltip))
        figures.append(fig)

    # The legend: stand-ins out of view, one per class and per code set (a renderer without
    # data would draw no symbol in the legend); clicking one hides it, and
    # a renderer shows only while both its class and its set are shown, in every panel.
    n_items = len(classes) + len(sets)
    key = figure(width=165, height=max(size[1], 19 * n_items + 30), tools="", toolbar_location=None,
                 outline_line_color=None,
                 x_range=Range1d(0, 1), y_range=Range1d(0, 1))
    key.axis.visible = False
    key.grid.visible = False
    stand_in = {}
    items = []
    for c, (name, colour) in enumerate(classes):
        r = key.scatter([-1], [-1], marker="circle", size=8, color=_hex(colour))
        r.tags = [LEGEND_KEY]  # (a tags= argument to scatter goes to the glyph)
        stand_in[("c", c)] = r
        items.append(LegendItem(label=name, renderers=[r]))
    for s, name in enumerate(sets):
        r = key.scatter([-1], [-1], marker=MARKERS[s], size=8, color="#666666")
        r.tags = [LEGEND_KEY]
        stand_in[("s", s)] = r
        items.append(LegendItem(label=name, renderers=[r]))
    legend = Legend(items=items, click_policy="hide", location="top_left", label_text_font_size="9pt",
                    border_line_color=None, background_fill_alpha=0, spacing=0, padding=2)
    key.add_layout(legend, "center")
    update = CustomJS(args=dict(renderers=[r for r, _, _ in drawn], sets=[s for _, s, _ in drawn],
                                cls=[c for _, _, c in drawn],
                                set_keys=[stand_in[("s", s)] for s in range(len(sets))],
                                class_keys=[stand_in[("c", c)] for c in range(len(classes))]),
                      code="""
for (let i = 0; i < renderers.length; i++) {
  renderers[i].visible = set_keys[sets[i]].visible && class_keys[cls[i]].visible;
}""")
    for r in stand_in.values():
        r.js_on_change("visible", update)
    grid = gridplot(figures, ncols=ncols, merge_tools=True, toolbar_location="above")
    return row(grid, key)


def bar_chart(rows: Sequence[str], series: Mapping[str, Sequence[Sequence[float]]], splits: Sequence[int],
              x_label: str = "LRAP", paper: Sequence[float | None] | None = None,
              paper_label: str = "paper (MIR Flickr)", ours_label: str | None = None,
              x_range: tuple[float, float] | None = None, reference: float | None = None, static=None,
              width: int = 660, alt: str = "bar chart") -> InteractiveFigure:
    """Horizontal bars, one group per row: each series' mean with a whisker of one standard
    deviation, and one dot per split. Hovering a bar shows mean, std and every split's value;
    hovering a dot, its split. The legend hides a series or the split dots.

    Parameters
    ----------
    rows : sequence of str
        Row names, top to bottom.
    series : mapping
        Series name -> for each row, the values on the splits ``splits`` (NaN: not scored).
    paper : sequence, optional
        The paper's value of each row (None: not in the paper), drawn in a narrower panel of
        its own on the left: it is another data set, so compare orderings, not lengths.
    reference : float, optional
        A dashed vertical line (e.g. the row every other row is compared with).
    """
    args = (rows, series, splits, x_label, paper, paper_label, ours_label, x_range, reference, width)
    return InteractiveFigure(lambda: _bar_layout(*args), static=static, alt=alt)


def _bar_layout(rows, series, splits, x_label, paper, paper_label, ours_label, x_range, reference, width):
    from bokeh.layouts import row as hrow
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Legend, LegendItem, Span, Whisker
    from bokeh.plotting import figure
    from bokeh.transform import dodge

    names = list(series)
    y_range = FactorRange(*reversed(list(rows)))  # top to bottom
    band = 0.8 / len(names)  # each series' share of a row's height
    height = 90 + max(34, 16 * len(names) + 8) * len(rows)
    values = np.array([[list(v) for v in series[s]] for s in names], dtype=float)  # (S, R, K)
    if values.ndim != 3 or values.shape[1] != len(rows) or values.shape[2] != len(splits):
        raise ValueError(f"bar_chart: expected for each series {len(rows)} rows of {len(splits)} split values, "
                         f"got an array of shape {values.shape} (series, rows, splits)")
    finite = values[np.isfinite(values)]
    if x_range is None:
        lo = float(finite.min()) if finite.size else 0.0
        x_range = (max(0.0, lo - 0.1), 1.0)
    ours = figure(y_range=y_range, x_range=x_range, height=height, width=width if paper is None else width - 250,
                  tools="xpan,xwheel_zoom,reset,save", toolbar_location="above",
                  title=ours_label or "this run: mean ± std over splits, one dot per split")
    ours.title.text_font_size = "10pt"
    ours.xaxis.axis_label = x_label
    items = []
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    dots = []
    for i, s in enumerate(names):
        v = values[i]  # (R, K)
        with np.errstate(all="ignore"):
            mean, std = np.nanmean(v, axis=1), np.nanstd(v, axis=1, ddof=1) if v.shape[1] > 1 else np.zeros(len(v))
        std = np.nan_to_num(std)
        shift = (i - (len(names) - 1) / 2) * band  # this series' place within the row (top first)
        y = dodge("y", -shift, range=y_range)
        src = ColumnDataSource(dict(y=list(rows), row=list(rows), series=[s] * len(rows), mean=mean.tolist(),
                                    std=std.tolist(), lower=(mean - std).tolist(), upper=(mean + std).tolist(),
                                    n=[int(np.isfinite(r).sum()) for r in v],
                                    values=[", ".join(f"{x:.3f}" for x in r if np.isfinite(x)) for r in v]))
        bars = ours.hbar(y=y, right="mean", left=x_range[0], height=band * 0.85, source=src,
                         color=palette[i % len(palette)], alpha=0.8)
        ours.add_layout(Whisker(source=src, base=y, lower="lower", upper="upper", dimension="width",
                                line_color="#333333"))
        ours.add_tools(HoverTool(renderers=[bars], tooltips=[
            ("row", "@row"), ("", "@series"), ("mean ± std", "@mean{0.000} ± @std{0.000}"),
            ("splits", "@n: @values")]))
        items.append(LegendItem(label=s, renderers=[bars]))
        for k, split in enumerate(splits):
            offset = -shift + (k - (len(splits) - 1) / 2) * band * 0.5 / max(len(splits), 1)
            dot_src = ColumnDataSource(dict(y=list(rows), row=list(rows), series=[s] * len(rows),
                                            value=v[:, k].tolist(), split=[split] * len(rows)))
            dots.append(ours.scatter(x="value", y=dodge("y", offset, range=y_range), source=dot_src,
                                     size=5, color="black", alpha=0.8))
    ours.add_tools(HoverTool(renderers=dots, tooltips=[("row", "@row"), ("", "@series"),
                                                      ("split @split", "@value{0.000}")]))
    items.append(LegendItem(label="one split", renderers=dots))
    if reference is not None:
        ours.add_layout(Span(location=reference, dimension="height", line_dash="dashed", line_color="#555555"))
    ours.add_layout(Legend(items=items, click_policy="hide", label_text_font_size="9pt",
                           orientation="horizontal"), "below")
    ours.ygrid.grid_line_color = None
    if paper is None:
        return ours
    have = [(r, p) for r, p in zip(rows, paper) if p is not None]
    theirs = figure(y_range=y_range, x_range=(0, 1), height=height, width=250, tools="", toolbar_location="above",
                    title=paper_label)
    theirs.title.text_font_size = "10pt"
    theirs.xaxis.axis_label = x_label
    src = ColumnDataSource(dict(y=[r for r, _ in have], value=[p for _, p in have]))
    bars = theirs.hbar(y="y", right="value", height=0.7, source=src, color="#999999")
    theirs.add_tools(HoverTool(renderers=[bars], tooltips=[("row", "@y"), ("the paper", "@value{0.000}")]))
    theirs.ygrid.grid_line_color = None
    ours.yaxis.visible = False
    ours.min_border_left = 4
    return hrow(theirs, ours)
