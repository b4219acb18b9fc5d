"""Tables 1-3 as text (the command line) and as Markdown (the book's pages).

Every function here reads :class:`~mvae_lib.results.Results` and writes a table; none
computes a score. :func:`captioned` turns any Markdown table into a numbered MyST ``{table}``
that a page can refer to with ``{numref}``.
"""
from __future__ import annotations

import math

from ..results import Results
from ..settings import SETTINGS, TABLE_ROWS
from ..paper import SOURCE, paper_value
from ..stats import MIN_SPLITS, Comparison, compare_encodings
from ..table3 import OWN, TABLE3_METRICS, TABLE3_ROWS, Row3


def table_cells(results: Results, table: int):
    """The rows of Table ``table`` that ``results`` holds, each with its LRAP and macro AP summary entries."""
    summary = {(r["model"], r["setting"], r["metric"]): r for r in results.summary()}
    for row in TABLE_ROWS:
        if row.table == table and (row.model, row.setting, "lrap") in summary:
            yield row, summary[(row.model, row.setting, "lrap")], summary[(row.model, row.setting, "map")]


def split_values(results: Results, cells, metric: str = "lrap") -> tuple[list[int], list[list[float]]]:
    """The splits scored and, for each cell ``(model, setting)``, its value on each of them
    (NaN where a cell was not scored on a split)."""
    splits = sorted({r["split"] for r in results.rows})
    value = {(r["model"], r["setting"], r["metric"], r["split"]): r["value"] for r in results.rows}
    return splits, [[value.get((m, s, metric, k), math.nan) for k in splits] for m, s in cells]


def format_tables(results: Results, tables=(1, 2)) -> str:
    """Tables 1 and 2 (or those of ``tables``) as plain text: the paper's LRAP beside this run's
    mean +- std and macro AP."""
    lines = []
    for table in tables:
        codes = "sampled z" if results.encoding == "sample" else "posterior means"
        lines += ["", f"Table {table} ({results.dataset}, {codes}; ours: mean +- std over splits)",
                  f"{'model':<6} {'setting':>7} {'paper LRAP':>10} {'our LRAP':>17} {'our macro AP':>17}  splits"]
        for row, lrap, ap in table_cells(results, table):
            paper = f"{lrap['paper']:.3f}" if lrap["paper"] is not None else "-"
            lines.append(f"{row.model:<6} {row.setting:>7} {paper:>10} "
                         f"{lrap['mean']:>9.3f} +- {lrap['std']:.3f} {ap['mean']:>9.3f} +- {ap['std']:.3f}  "
                         f"{lrap['n_splits']}")
    lines += ["", f"paper: {SOURCE}.",
              "Ours are on the data set named above; only mirflickr is comparable with the paper's column."]
    return "\n".join(lines)


def markdown_table(results: Results, table: int, caption: str | None = None, name: str | None = None) -> str:
    """One table as Markdown, for a notebook cell's output; with ``caption`` (and ``name``,
    its label), a MyST ``{table}`` directive, numbered and referable with ``{numref}``."""
    lines = ["| model | setting | paper's LRAP (MIR Flickr) | our LRAP | our macro AP | splits |",
             "|:--|:--|--:|--:|--:|--:|"]
    for row, lrap, ap in table_cells(results, table):
        paper = f"{lrap['paper']:.3f}" if lrap["paper"] is not None else "–"
        lines.append(f"| {row.model} | {row.setting}: {SETTINGS[row.setting].short} | {paper} | "
                     f"{lrap['mean']:.3f} ± {lrap['std']:.3f} | {ap['mean']:.3f} ± {ap['std']:.3f} | "
                     f"{lrap['n_splits']} |")
    return captioned("\n".join(lines), caption, name)


def captioned(table: str, caption: str | None, name: str | None = None) -> str:
    """Wrap a Markdown table in a MyST ``{table}`` directive with a caption and a label."""
    if caption is None:
        return table
    label = f":name: {name}\n" if name else ""
    return f"```{{table}} {caption}\n{label}\n{table}\n```"


def encodings_table(sampled: Results, mean: Results, cells: list[tuple[str, int]], caption: str | None = None,
                    name: str | None = None) -> str:
    """LRAP with sampled codes (the paper's protocol) beside LRAP with posterior means, per cell,
    mean ± standard deviation over splits, and the mean paired gain of the means."""
    lines = ["| model | setting | LRAP, sampled $z$ | LRAP, posterior mean | gain (paired mean) | splits |",
             "|:--|:--|--:|--:|--:|--:|"]
    for model, setting in cells:
        s, m = sampled.cell(model, setting), mean.cell(model, setting)
        gain = compare_encodings(sampled, mean, (model, setting))
        lines.append(f"| {model} | {setting}: {SETTINGS[setting].short} | {s['mean']:.3f} ± {s['std']:.3f} | "
                     f"{m['mean']:.3f} ± {m['std']:.3f} | {gain.mean:+.3f} | {gain.n} |")
    return captioned("\n".join(lines), caption, name)


def findings_table(comparisons: list[tuple[str, Comparison, tuple[str, ...]]]) -> tuple[str, int, int]:
    """The paper's findings against ours, as a Markdown table.

    ``comparisons`` holds ``(finding, comparison, verdicts that agree with the paper)``.
    Returns the table, how many findings hold and how many could be judged.
    """
    lines = ["| finding of the paper | paper (MIR Flickr) | ours: mean paired difference ± s.e. | our verdict | holds? |",
             "|:--|:--|:--|:--|:--|"]
    held = judged = 0
    for text, cmp, expected in comparisons:
        verdict = cmp.verdict
        if cmp.n >= MIN_SPLITS:
            judged += 1
            held += verdict in expected
            holds = "yes" if verdict in expected else "**no**"
        else:
            holds = "not judged"
        pa, pb = paper_value(*cmp.a), paper_value(*cmp.b)
        ours = f"{cmp.mean:+.3f} ± {cmp.se:.3f}" if cmp.n > 1 else f"{cmp.mean:+.3f}"
        lines.append(f"| {text} | {pa:.3f} vs {pb:.3f} | {ours} | "
                     f"{verdict} | {holds} |")
    return "\n".join(lines), held, judged


def table3_cells(results: Results, rows=TABLE3_ROWS) -> list[tuple[Row3, dict[str, dict]]]:
    """Each row with its summary entry per metric (mean, std, n_splits)."""
    summary = {(r["model"], r["setting"], r["metric"]): r for r in results.summary()}
    return [(row, {m: summary[(row.name, row.fill, m)] for m in TABLE3_METRICS
                   if (row.name, row.fill, m) in summary})
            for row in rows if any((row.name, row.fill, m) in summary for m in TABLE3_METRICS)]


def _digits(metric: str) -> int:
    """Decimals a Table 3 column is shown with: nats and effective sample sizes to 0.1."""
    return 1 if metric.startswith(("ll_", "ess_")) else 3


def _value(cell: dict | None, digits: int) -> str:
    return "–" if cell is None else f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def format_table3(results: Results, rows=TABLE3_ROWS) -> str:
    """Table 3 as plain text (command line)."""
    cols = ["lrap_both", "lrap_image", "gen_ap", "coherence", "ll_joint", "ess_joint", "ll_cond", "ess_cond"]
    head = f"{'model, tags given by':<16}" + "".join(f"{TABLE3_METRICS[c][0]:>19}" for c in cols)
    codes = "sampled z" if results.encoding == "sample" else "posterior means"
    lines = ["", f"Table 3 ({results.dataset}, {codes}; mean +- std over splits; the image without its tags)",
             head]
    for row, cells in table3_cells(results, rows):
        lines.append(f"{row.label:<16}" + "".join(
            f"{_value(cells.get(c), _digits(c)).replace('±', '+-'):>19}" for c in cols))
    n = max((c["n_splits"] for _, cells in table3_cells(results, rows) for c in cells.values()), default=0)
    lines += ["", f"{n} splits. x only: the tags missing at test (filled in, or the model's own q(z|x)); "
              "the probe is fitted on training codes of x and w.",
              "log-likelihoods: nats per test example, importance-weighted (log p(x, w) a stochastic lower bound, "
              "log p(w | x) of either sign; see mvae_lib.iwae); ESS: median effective sample size of the weights."]
    return "\n".join(lines)


def markdown_table3(results: Results, rows=TABLE3_ROWS, metrics=None, per_model: bool = False,
                    caption: str | None = None, name: str | None = None) -> str:
    """Table 3 as Markdown, for a notebook cell's output. ``per_model``: one row per model,
    without the fill column (for scores of the model itself, such as its likelihoods).
    ``caption`` and ``name``: as :func:`markdown_table`."""
    metrics = list(metrics or TABLE3_METRICS)
    head = "| model | " if per_model else "| model | tags given by | "
    lines = [head + " | ".join(TABLE3_METRICS[m][0].replace("|", "\\|") for m in metrics) + " |",
             "|:--|" + ("" if per_model else ":--|") + "--:|" * len(metrics)]
    for row, cells in table3_cells(results, rows):
        fill = "" if per_model else ("its own $q(z \\mid x)$ | " if row.fill == OWN else f"{row.fill} | ")
        lines.append(f"| {row.name} | {fill}" + " | ".join(
            _value(cells.get(m), _digits(m)) for m in metrics) + " |")
    return captioned("\n".join(lines), caption, name)
