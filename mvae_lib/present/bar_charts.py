"""The tables as interactive bar charts (Bokeh), every split on hover.

Legend entries hide a series, the paper's numbers get a panel of their own, and each chart
carries the static figure of :mod:`mvae_lib.present.plots` for print.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..results import Results
from ..table3 import TABLE3_METRICS, TABLE3_ROWS, Row3
from .interactive import InteractiveFigure
from .plots import plot_table, plot_table3
from .tables import split_values, table3_cells, table_cells


def bar_chart(rows: Sequence[str], series: Mapping[str, Sequence[Sequence[float]]], splits: Sequence[int],
              x_label: str = "LRAP", paper: Sequence[float | None] | None = None,
              paper_label: str = "paper (MIR Flickr)", ours_label: str | None = None,
              x_range: tuple[float, float] | None = None, reference: float | Mapping[str, float] | None = None,
              static=None, width: int = 660, alt: str = "bar chart", reference_label: str = "reference",
              ) -> InteractiveFigure:
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
    reference : float or mapping, optional
        A dashed vertical line (e.g. the row every other row is compared with); a mapping
        ``{series: value}`` draws one per series, in the series' colour and named in the
        legend (``reference_label``), so that each metric has its own line.
    reference_label : str
        What the reference lines are, for the legend (``"MVAE, zeros"``).
    """
    args = (rows, series, splits, x_label, paper, paper_label, ours_label, x_range, reference, width,
            reference_label)
    return InteractiveFigure(lambda: _bar_layout(*args), static=static, alt=alt)


def _bar_layout(rows, series, splits, x_label, paper, paper_label, ours_label, x_range, reference, width,
                reference_label="reference"):
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
    if isinstance(reference, Mapping):
        for i, s in enumerate(names):
            if reference.get(s) is None:
                continue
            color = palette[i % len(palette)]
            ours.add_layout(Span(location=reference[s], dimension="height", line_dash="dashed",
                                 line_color=color, line_width=2))
            # an empty line only to show the dashed line in the legend, under its own name
            key = ours.line(x=[], y=[], line_dash="dashed", line_color=color, line_width=2)
            items.append(LegendItem(label=f"{reference_label}: {s}", renderers=[key]))
    elif reference is not None:
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


def interactive_table(results: Results, table: int, title: str):
    """Table 1 or 2 as an interactive bar chart (:func:`bar_chart`): the
    paper's LRAP in a panel of its own, ours with every split on hover, and
    :func:`plot_table`'s figure as its static image."""
    import matplotlib.pyplot as plt

    cells = [(row, lrap) for row, lrap, _ in table_cells(results, table)]
    splits, values = split_values(results, [(row.model, row.setting) for row, _ in cells])
    static = plot_table(results, table, title)
    figure = bar_chart([f"{row.model}, setting {row.setting}" for row, _ in cells], {"LRAP": values}, splits,
                       paper=[lrap["paper"] for _, lrap in cells], ours_label=f"our LRAP ({results.dataset})",
                       static=static, alt=title)
    plt.close(static)
    return figure


def interactive_table3(results: Results, metrics=("lrap_image", "lrap_both"), rows=TABLE3_ROWS):
    """Table 3 as an interactive bar chart (:func:`bar_chart`): one bar
    per metric and row, every split on hover, the MVAE with zeros as a dashed line per metric
    (in the metric's colour, named in the legend), and :func:`plot_table3`'s figure as its
    static image, with the same lines."""
    import matplotlib.pyplot as plt

    cells = table3_cells(results, rows)
    series, refs = {}, {}
    reference = dict(cells).get(Row3("MVAE", "zeros"), {})
    for metric in metrics:
        name = TABLE3_METRICS[metric][0]
        splits, series[name] = split_values(results, [(row.name, row.fill) for row, _ in cells], metric)
        refs[name] = reference[metric]["mean"] if metric in reference else None
    static = plot_table3(results, metrics, rows)
    _reference_lines(static, metrics, refs)
    figure = bar_chart([row.label for row, _ in cells], series, splits, x_label="score",
                       reference=refs, reference_label="MVAE, zeros", static=static,
                       alt="Table 3: " + ", ".join(TABLE3_METRICS[m][0] for m in metrics))
    plt.close(static)
    return figure


def _reference_lines(fig, metrics, refs: dict) -> None:
    """One dashed line per metric on the static figure of :func:`plot_table3`, in the metric's
    colour and named in its legend (that figure draws the first metric's line, unnamed)."""
    ax = fig.axes[0]
    for line in list(ax.lines):
        if line.get_linestyle() == "--":
            line.remove()
    for i, metric in enumerate(metrics):
        value = refs.get(TABLE3_METRICS[metric][0])
        if value is not None:
            ax.axhline(value, color=f"C{i}", ls="--", lw=1, label=f"MVAE, zeros: {TABLE3_METRICS[metric][0]}")
    ax.legend(fontsize=8, ncol=len(metrics) + 1, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
