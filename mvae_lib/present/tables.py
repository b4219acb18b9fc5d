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
from ..verdicts import LL_VERDICT_METRICS, MODEL_METRICS, REFERENCE, VERDICT_METRICS, Judged, Table3Verdicts

#: Between a mean and its spread in a Markdown table: no-break spaces, so that a narrow
#: column never wraps "0.890 ± 0.001" inside the number.
PM = "\u00a0±\u00a0"


def pm(mean: float, std: float, digits: int = 3, sign: bool = False) -> str:
    """``mean ± std`` with :data:`PM` (``sign``: the mean with its sign, for a difference)."""
    return f"{mean:{'+' if sign else ''}.{digits}f}{PM}{std:.{digits}f}"


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
                     f"{pm(lrap['mean'], lrap['std'])} | {pm(ap['mean'], ap['std'])} | "
                     f"{lrap['n_splits']} |")
    return captioned("\n".join(lines), caption, name)


def captioned(table: str, caption: str | None, name: str | None = None) -> str:
    """Wrap a Markdown table in a MyST ``{table}`` directive with a caption and a label."""
    if caption is None:
        return table
    if "`" in caption:  # CommonMark: a backtick fence's info string may hold no backtick
        raise ValueError(f"a table caption can hold no backtick (the {{table}} fence would not parse): {caption!r}")
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
        lines.append(f"| {model} | {setting}: {SETTINGS[setting].short} | {pm(s['mean'], s['std'])} | "
                     f"{pm(m['mean'], m['std'])} | {gain.mean:+.3f} | {gain.n} |")
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
        ours = pm(cmp.mean, cmp.se, sign=True) if cmp.n > 1 else f"{cmp.mean:+.3f}"
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
    return "–" if cell is None else pm(cell["mean"], cell["std"], digits)


def format_table3(results: Results, rows=TABLE3_ROWS) -> str:
    """Table 3 as plain text (command line): the probe and generation scores, then the
    likelihoods, one block each so that neither is wider than a terminal's 160 columns."""
    blocks = [["lrap_both", "lrap_joint", "lrap_image", "lrap_image_fit", "gen_ap", "coherence"],
              ["ll_joint", "ess_joint", "ll_cond", "ess_cond"]]
    codes = "sampled z" if results.encoding == "sample" else "posterior means"
    lines = ["", f"Table 3 ({results.dataset}, {codes}; mean +- std over splits; the image without its tags)"]
    for cols, per_model in zip(blocks, (False, True)):  # a likelihood is the model's, whatever the fill
        shown: set[str] = set()
        widths = [max(len(TABLE3_METRICS[c][0]), 15) + 2 for c in cols]
        lines.append(f"{'model' if per_model else 'model, tags given by':<22}" + "".join(
            f"{TABLE3_METRICS[c][0]:>{w}}" for c, w in zip(cols, widths)))
        for row, cells in table3_cells(results, rows):
            values = [_value(cells.get(c), _digits(c)).replace(PM, " +- ") for c in cols]
            if all(v == _value(None, 3) for v in values) or (per_model and row.name in shown):
                continue  # the MAE has no likelihood; the MVAE has one, whatever its fill
            shown.add(row.name)
            lines.append(f"{row.name if per_model else row.label:<22}" + "".join(f"{v:>{w}}" for v, w in zip(values, widths)))
        lines.append("")
    n = max((c["n_splits"] for _, cells in table3_cells(results, rows) for c in cells.values()), default=0)
    lines += [f"{n} splits. x and w: a draw of the posterior (for a mixture, of one expert or subset); one code: "
              "a code of both modalities (MMVAE: joint_code, not a posterior).",
              "x only: the tags missing at test (filled in, or the model's own q(z|x)); the probe is fitted on "
              "training codes of x and w, or, in 'x-only probe', on training codes of x alone.",
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


# --------------------------------------------------------------------------- Table 3's verdicts
def _heading(metric: str) -> str:
    return TABLE3_METRICS[metric][0]


def _name(row: Row3, metric: str) -> str:
    """A row as a verdict names it: the model alone in a column that belongs to the model."""
    return row.name if metric in MODEL_METRICS else row.label


def _digits_of(metric: str) -> int:
    return 2 if metric.startswith("ll_") else 3


def _difference(j: Judged) -> str:
    c, d = j.comparison, _digits_of(j.metric)
    return pm(c.mean, c.se, d, sign=True) if c.n > 1 else f"{c.mean:+.{d}f}"


def _p(j: Judged) -> str:
    c = j.comparison
    if not j.in_family or c.n < MIN_SPLITS:
        return "–"
    return f"{c.p_value:.2g} → {c.p_adjusted:.2g}"


def _verdict(j: Judged) -> str:
    v = j.verdict
    return f"**{v}**" if v in ("above", "below") else v


def reference_verdicts_table(verdicts: Table3Verdicts, metrics=VERDICT_METRICS, rows=TABLE3_ROWS,
                             caption: str | None = None, name: str | None = None) -> str:
    """Each row of Table 3 against the MVAE with zeros, one column per metric: the mean paired
    difference ± its standard error and the verdict, after the family's correction ("–": the
    row is the MVAE itself, in a column that belongs to the model)."""
    cells = {(j.metric, j.row): j for j in verdicts.of("reference")}
    lines = ["| row | " + " | ".join(_heading(m) for m in metrics) + " |",
             "|:--|" + ":--|" * len(metrics)]
    for row in rows:
        if row == REFERENCE or not any((m, row) in cells for m in metrics):
            continue
        lines.append(f"| {row.label} | " + " | ".join(
            f"{_difference(cells[(m, row)])} {_verdict(cells[(m, row)])}" if (m, row) in cells else "–"
            for m in metrics) + " |")
    return captioned("\n".join(lines), caption, name)


def best_verdicts_table(verdicts: Table3Verdicts, metrics=VERDICT_METRICS + LL_VERDICT_METRICS,
                        caption: str | None = None, name: str | None = None) -> str:
    """For each column, its highest row against the runner-up: the difference, the p-value of
    the paired t-test and its Holm adjustment, and whether the best is resolved."""
    lines = ["| column | highest in this build | runner-up | difference | p → Holm-adjusted p | "
             "the highest is resolved? |", "|:--|:--|:--|--:|--:|:--|"]
    for metric in metrics:
        try:
            j = verdicts.best(metric)
        except StopIteration:
            continue
        lines.append(f"| {_heading(metric).replace('|', chr(92) + '|')} | {_name(j.row, metric)} | "
                     f"{_name(j.other, metric)} | {_difference(j)} | {_p(j)} | {best_status(j)} |")
    return captioned("\n".join(lines), caption, name)


def best_status(j: Judged) -> str:
    """``"yes"``, ``"no"`` (level after the correction, or within the resolution) or ``"not judged"``."""
    if j.comparison.n < MIN_SPLITS:
        return "not judged"
    if not j.in_family:
        return "no: within the resolution"
    return "**yes**" if j.verdict == "above" else "no"


def ll_verdicts_table(verdicts: Table3Verdicts, caption: str | None = None, name: str | None = None) -> str:
    """Each model's log-likelihoods against the highest: the mean paired difference, the
    resolution of the estimates, the p-values and the verdict (none within the resolution)."""
    lines = ["| log-likelihood | model | difference from the highest | resolution | "
             "p → Holm-adjusted p | verdict |", "|:--|:--|--:|--:|--:|:--|"]
    for metric in LL_VERDICT_METRICS:
        for j in verdicts.of("ll", metric):
            lines.append(f"| {_heading(metric).replace('|', chr(92) + '|')} | {j.row.name} | "
                         f"{_difference(j)} | {j.resolution:.2f} | {_p(j)} | {_verdict(j)} |")
    return captioned("\n".join(lines), caption, name)


def best_sentence(j: Judged) -> str:
    """One sentence on the best row of a column, naming it only if it is resolved."""
    heading = f"*{_heading(j.metric)}*"
    best, other = f"**{_name(j.row, j.metric)}**", _name(j.other, j.metric)
    if j.comparison.n < MIN_SPLITS:
        return (f"In {heading}, {best} is highest in this build and {other} next; with "
                f"{j.comparison.n} splits their difference ({_difference(j)}) is not judged.")
    if not j.in_family:
        return (f"In {heading} no model is named best: the highest estimate, {best}'s, is within the "
                f"resolution of the estimates ({j.resolution:.2f} nats) of the runner-up {other}'s.")
    if j.verdict == "above":
        return (f"In {heading}, {best} is the best: above the runner-up {other} by {_difference(j)} "
                f"(Holm-adjusted p = {j.comparison.p_adjusted:.2g}).")
    return (f"In {heading} no row is named best: the highest in this build, {best}, is not resolved "
            f"against the runner-up {other} ({_difference(j)}, Holm-adjusted p = "
            f"{j.comparison.p_adjusted:.2g}).")


def listing(names: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a; b; and c"`` (``;``: a row's label may hold a comma)."""
    if len(names) <= 2:
        return " and ".join(names)
    return "; ".join(names[:-1]) + "; and " + names[-1]


def reference_summary(verdicts: Table3Verdicts) -> str:
    """What the verdicts against the MVAE with zeros say, in two sentences (or why none is given)."""
    if verdicts.splits < MIN_SPLITS:
        return (f"With {verdicts.splits} splits no verdict is given: the paired differences in the "
                "tables show the direction of each effect, but too few splits to judge it. Rebuild "
                "with `quick = False` (5 splits) for the verdicts.")
    parts = []
    for metric in ("lrap_image", "lrap_image_fit"):
        judged = verdicts.of("reference", metric)
        above = [j.row.label for j in judged if j.verdict == "above"]
        parts.append(f"in *{_heading(metric)}* **{len(above)} of {len(judged)}** rows are above it"
                     + (f" ({listing(above)})" if above else ""))
    text = "Against the MVAE with zeros, after the correction: " + "; ".join(parts) + ". "
    for metric in ("lrap_both", "lrap_joint"):
        below = [_name(j.row, metric) for j in verdicts.of("reference", metric) if j.verdict == "below"]
        text += (f"In *{_heading(metric)}* " + (f"{listing(below)} {'is' if len(below) == 1 else 'are'} "
                 "below the MVAE. " if below else "no model is below the MVAE. "))
    return text.strip()


def fairness_box(facts: list[dict], how_timed: str, title: str = "What each model costs and estimates") -> str:
    """The fairness box of Table 3: per model (:func:`mvae_lib.table3.fairness`) its parameters,
    training time (mean ± standard deviation over splits), draws of z per example and
    training step, and objective, as a MyST admonition; ``how_timed`` says how the times were
    measured (machine, parallel workers, threads)."""
    lines = ["| model | parameters | training time (s) | draws of $z$ per example and step | objective |",
             "|:--|--:|--:|--:|:--|"]
    for f in facts:
        time = pm(f["train_s"], f["train_s_std"], 1) if f["splits"] > 1 else f"{f['train_s']:.1f}"
        samples = "–" if f["samples"] is None else str(f["samples"])
        lines.append(f"| {f['model']} | {f['n_params']:,} | {time} | {samples} | {f['objective']} |")
    return (f"````{{admonition}} {title}\n:class: note\n\n" + "\n".join(lines) + f"\n\n{how_timed}\n````")
