"""Presenting results: Tables 1 and 2 as text (command line) or Markdown (the book)."""
from __future__ import annotations

from dataclasses import dataclass

from .experiments import SETTINGS, TABLE_ROWS, Results
from .paper import SOURCE


def _cells(results: Results, table: int):
    summary = {(r["model"], r["setting"], r["metric"]): r for r in results.summary()}
    for row in TABLE_ROWS:
        if row.table == table and (row.model, row.setting, "lrap") in summary:
            yield row, summary[(row.model, row.setting, "lrap")], summary[(row.model, row.setting, "map")]


def format_tables(results: Results, tables=(1, 2)) -> str:
    """Tables 1 and 2 (or those of ``tables``) as plain text: the paper's LRAP beside this run's
    mean +- std and macro AP."""
    lines = []
    for table in tables:
        codes = "sampled z" if results.encoding == "sample" else "posterior means"
        lines += ["", f"Table {table} ({results.dataset}, {codes}; ours: mean +- std over splits)",
                  f"{'model':<6} {'setting':>7} {'paper LRAP':>10} {'our LRAP':>17} {'our macro AP':>17}  splits"]
        for row, lrap, ap in _cells(results, table):
            paper = f"{lrap['paper']:.3f}" if lrap["paper"] is not None else "-"
            lines.append(f"{row.model:<6} {row.setting:>7} {paper:>10} "
                         f"{lrap['mean']:>9.3f} +- {lrap['std']:.3f} {ap['mean']:>9.3f} +- {ap['std']:.3f}  "
                         f"{lrap['n_splits']}")
    lines += ["", f"paper: {SOURCE}.",
              "Ours are on the data set named above; only mirflickr is comparable with the paper's column."]
    return "\n".join(lines)


def markdown_table(results: Results, table: int) -> str:
    """One table as Markdown, for a notebook cell's output."""
    lines = ["| model | setting | paper's LRAP (MIR Flickr) | our LRAP | our macro AP | splits |",
             "|:--|:--|--:|--:|--:|--:|"]
    for row, lrap, ap in _cells(results, table):
        paper = f"{lrap['paper']:.3f}" if lrap["paper"] is not None else "–"
        lines.append(f"| {row.model} | {row.setting}: {SETTINGS[row.setting].short} | {paper} | "
                     f"{lrap['mean']:.3f} ± {lrap['std']:.3f} | {ap['mean']:.3f} ± {ap['std']:.3f} | "
                     f"{lrap['n_splits']} |")
    return "\n".join(lines)


def plot_table(results: Results, table: int, title: str):
    """Bar chart of one table: the paper's LRAP (left) and ours, mean +- std with splits as dots (right).

    The paper's numbers are on MIR Flickr and ours on ``results.dataset``, so they get
    separate panels: compare orderings, not heights.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [row for row, _, _ in _cells(results, table)]
    cells = [lrap for _, lrap, _ in _cells(results, table)]
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


def compare(a: dict, b: dict) -> str:
    """Summary cell ``a`` against ``b``: 'above', 'below', or 'level with' when the gap in
    means is within the larger of their standard deviations over splits."""
    diff = a["mean"] - b["mean"]
    noise = max(a["std"], b["std"], 1e-3)
    return "level with" if abs(diff) <= noise else ("above" if diff > 0 else "below")


@dataclass(frozen=True)
class BookMode:
    """What the book's quick and full modes train: every chapter derives its runs from this,
    so that chapters find each other's saved runs."""

    splits: int
    epochs: int | None  # None: the preset's
    preset: str
    tsne_points: int
    quick: bool = True
    dataset: str = "mnist-halves"

    @classmethod
    def make(cls, quick: bool, dataset: str = "mnist-halves", splits: int | None = None,
             epochs: int | None = None) -> "BookMode":
        preset = "paper" if dataset == "mirflickr" else "small"
        if quick:
            return cls(splits or 2, epochs or 5, preset, 500, True, dataset)
        return cls(splits or 5, epochs, preset, 1000, False, dataset)

    def banner(self) -> str:
        """One Markdown line that every chapter shows first: which build made this page."""
        from .config import get_preset
        from .data import DATASETS

        epochs = self.epochs or get_preset(self.preset).train.epochs
        what = (f"{self.dataset}, {self.splits} of {DATASETS[self.dataset]} splits, {epochs} epochs, "
                f"preset `{self.preset}`")
        if self.quick:
            return (f"**Quick build** ({what}): a smoke test of the book, not the reproduction; "
                    "`python3 scripts/build_book.py` builds the full one.")
        return f"**Full build** ({what})."
