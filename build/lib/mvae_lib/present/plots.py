"""Static figures (Matplotlib) of the tables, and the axis limits the code maps share.

These are the figures kept for print and PDF; the interactive figures of the pages
(:mod:`mvae_lib.present.bar_charts`) carry them as their static image.
"""
from __future__ import annotations

import numpy as np

from ..results import Results
from ..table3 import TABLE3_METRICS, TABLE3_ROWS, Row3
from .tables import table3_cells, table_cells


def robust_limits(points: np.ndarray, lo: float = 1, hi: float = 99, margin: float = 0.1):
    """Axis ranges ``((x0, x1), (y0, y1))`` of (n, 2) ``points`` from their lo-th and hi-th
    percentiles, widened by ``margin`` of that range: a few far points do not squash the rest
    (zoom out to see them)."""
    a, b = np.percentile(points, [lo, hi], axis=0)
    pad = margin * (b - a) + 1e-9
    return (a[0] - pad[0], b[0] + pad[0]), (a[1] - pad[1], b[1] + pad[1])


def plot_table(results: Results, table: int, title: str):
    """Bar chart of one table: the paper's LRAP (left) and ours, mean +- std with splits as dots (right).

    The paper's numbers are on MIR Flickr and ours on ``results.dataset``, so they get
    separate panels: compare orderings, not heights.
    """
    import matplotlib.pyplot as plt

    rows = [row for row, _, _ in table_cells(results, table)]
    cells = [lrap for _, lrap, _ in table_cells(results, table)]
    pos = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(pos, [c["paper"] or 0 for c in cells], color="0.6")
    left.set_title("the paper's LRAP (MIR Flickr)", fontsize=10)
    right.bar(pos, [c["mean"] for c in cells], yerr=[c["std"] for c in cells], capsize=4, color="C0",
              label="mean ± std over splits")
    for p, row in zip(pos, rows):
        values = [r["value"] for r in results.rows
                  if (r["model"], r["setting"], r["metric"]) == (row.model, row.setting, "lrap")]
        right.plot(p + np.linspace(-0.15, 0.15, len(values)), values, "k.", ms=4)
    right.plot([], [], "k.", label="one split")
    right.set_title(f"our LRAP ({results.dataset})", fontsize=10)
    right.legend(fontsize=8, loc="upper right", ncol=2)
    for ax in (left, right):
        ax.set_xticks(pos)
        ax.set_xticklabels([f"{r.model}\nsetting {r.setting}" for r in rows], fontsize=8)
        ax.set_ylabel("LRAP")
        ax.set_ylim(0, 1.12)  # headroom for the legend
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_table3(results: Results, metrics=("lrap_image", "lrap_both"), rows=TABLE3_ROWS):
    """Bars of Table 3: one group per row, one bar per metric (mean +- std over splits), each
    split a dot. The dashed line marks the MVAE with zeros, the paper's setting 4."""
    import matplotlib.pyplot as plt

    cells = table3_cells(results, rows)
    pos = np.arange(len(cells))
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for i, metric in enumerate(metrics):
        offset = (i - (len(metrics) - 1) / 2) * width
        means = [c[metric]["mean"] for _, c in cells]
        ax.bar(pos + offset, means, width * 0.9, yerr=[c[metric]["std"] for _, c in cells], capsize=3,
               color=f"C{i}", label=TABLE3_METRICS[metric][0])
        for p, (row, _) in zip(pos, cells):
            values = [r["value"] for r in results.rows
                      if (r["model"], r["setting"], r["metric"]) == (row.name, row.fill, metric)]
            ax.plot(p + offset + np.linspace(-width / 4, width / 4, len(values)), values, "k.", ms=3)
        if metric == metrics[0]:
            ref = dict(cells).get(Row3("MVAE", "zeros"), {}).get(metric)
            if ref:
                ax.axhline(ref["mean"], color=f"C{i}", ls="--", lw=1)
    ax.plot([], [], "k.", label="one split")
    ax.set_xticks(pos)
    ax.set_xticklabels([row.label.replace(", ", ",\n") for row, _ in cells], fontsize=8)
    low = min(r["value"] for r in results.rows if r["metric"] in metrics)
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel("score")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=len(metrics) + 1, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    fig.tight_layout()
    return fig
