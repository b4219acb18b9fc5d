"""Maps of 2-d codes as interactive figures (Bokeh), coloured by label, a digit on hover.

Zoom and pan; hovering a point shows its digit or its image's labels; clicking a legend entry
hides its class or code set in every panel.

:func:`colour_classes` gives the classes to colour test examples by (one per digit, or the
presence of one label on multi-label data) and :func:`example_hover` what hovering one shows.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .images import digit_thumbnails
from .interactive import LEGEND_KEY, InteractiveFigure
from .plots import robust_limits

# The marker of each code set in a latent map, in order (Bokeh's scatter markers).
MARKERS = ("circle", "triangle", "square", "diamond", "inverted_triangle", "star")


def _hex(colour) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)


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


def colour_classes(y: np.ndarray, label_names: Sequence[str], dataset: str, colour_label=None):
    """The colour classes of test examples with labels ``y`` (n, N_y), for :func:`latent_map`.

    Single-label data (a digit per example): one class per label, in Matplotlib's ``tab10``
    colours, named ``"digit 3"`` on the MNIST halves. Multi-label data (MIR Flickr) cannot be
    coloured by an argmax (an image has several labels, or none): the classes are the presence
    of one label (``colour_label``, a name or an index; None: the most frequent label of ``y``),
    other labels only, and no label at all.

    Returns
    -------
    class_of : (n,) int array
        Each example's class.
    classes : list of (name, colour)
    text : str
        How the points are coloured, for a sentence (``"coloured by digit"``).
    """
    import matplotlib.pyplot as plt

    labels = np.asarray(y) > 0  # (n, N_y) label presence
    if (labels.sum(1) == 1).all():  # one colour per class (the digit for MNIST halves)
        names = [f"digit {n}" if dataset == "mnist-halves" else n for n in label_names]
        classes = [(name, plt.cm.tab10(c % 10)) for c, name in enumerate(names)]
        return labels.argmax(1), classes, f"coloured by {'digit' if dataset == 'mnist-halves' else 'label'}"
    if colour_label is None:
        chosen = int(labels.sum(0).argmax())  # the most frequent label
    elif isinstance(colour_label, str):
        chosen = list(label_names).index(colour_label)
    else:
        chosen = int(colour_label)
    has, unlabelled = labels[:, chosen], ~labels.any(1)
    classes = [(f"with {label_names[chosen]} ({has.sum()})", "C3"),
               (f"other labels only ({(~has & ~unlabelled).sum()})", "C0"),
               (f"no label ({unlabelled.sum()})", "0.7")]
    # 0: has the label, 1: other labels only, 2: no label at all
    return np.where(has, 0, np.where(unlabelled, 2, 1)), classes, f"coloured by the presence of {label_names[chosen]}"


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
        (x0, x1), (y0, y1) = robust_limits(pts)
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
