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


def format_tables(results: Results) -> str:
    """Tables 1 and 2 as plain text: the paper's LRAP beside this run's mean +- std and macro AP."""
    lines = []
    for table in (1, 2):
        lines += ["", f"Table {table} ({results.dataset}; ours: mean +- std over splits)",
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
        lines.append(f"| {row.model} | {row.setting}: {SETTINGS[row.setting].description} | {paper} | "
                     f"{lrap['mean']:.3f} ± {lrap['std']:.3f} | {ap['mean']:.3f} ± {ap['std']:.3f} | "
                     f"{lrap['n_splits']} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class BookMode:
    """What the book's quick and full modes train: every chapter derives its runs from this,
    so that chapters find each other's saved runs."""

    splits: int
    epochs: int | None  # None: the preset's
    preset: str
    tsne_points: int

    @classmethod
    def make(cls, quick: bool, dataset: str = "mnist-halves", splits: int | None = None,
             epochs: int | None = None) -> "BookMode":
        preset = "paper" if dataset == "mirflickr" else "small"
        if quick:
            return cls(splits or 2, epochs or 5, preset, 500)
        return cls(splits or 5, epochs, preset, 2000)
