"""Presenting results: Tables 1 and 2 as text (command line) or Markdown (the book)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .results import Results
from .settings import SETTINGS, TABLE_ROWS
from .paper import SOURCE, paper_value


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


def markdown_table(results: Results, table: int, caption: str | None = None, name: str | None = None) -> str:
    """One table as Markdown, for a notebook cell's output; with ``caption`` (and ``name``,
    its label), a MyST ``{table}`` directive, numbered and referable with ``{numref}``."""
    lines = ["| model | setting | paper's LRAP (MIR Flickr) | our LRAP | our macro AP | splits |",
             "|:--|:--|--:|--:|--:|--:|"]
    for row, lrap, ap in _cells(results, table):
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
        both = Results([{**r, "model": f"{r['model']}-mean"} for r in mean.rows] + sampled.rows, sampled.dataset, {})
        gain = compare(both, (f"{model}-mean", setting), (model, setting))
        lines.append(f"| {model} | {setting}: {SETTINGS[setting].short} | {s['mean']:.3f} ± {s['std']:.3f} | "
                     f"{m['mean']:.3f} ± {m['std']:.3f} | {gain.mean:+.3f} | {gain.n} |")
    return captioned("\n".join(lines), caption, name)


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


def split_values(results: Results, cells, metric: str = "lrap") -> tuple[list[int], list[list[float]]]:
    """The splits scored and, for each cell ``(model, setting)``, its value on each of them
    (NaN where a cell was not scored on a split)."""
    splits = sorted({r["split"] for r in results.rows})
    value = {(r["model"], r["setting"], r["metric"], r["split"]): r["value"] for r in results.rows}
    return splits, [[value.get((m, s, metric, k), math.nan) for k in splits] for m, s in cells]


def interactive_table(results: Results, table: int, title: str):
    """Table 1 or 2 as an interactive bar chart (:func:`mvae_lib.interactive.bar_chart`): the
    paper's LRAP in a panel of its own, ours with every split on hover, and
    :func:`plot_table`'s figure as its static image."""
    import matplotlib.pyplot as plt

    from .interactive import bar_chart

    cells = [(row, lrap) for row, lrap, _ in _cells(results, table)]
    splits, values = split_values(results, [(row.model, row.setting) for row, _ in cells])
    static = plot_table(results, table, title)
    figure = bar_chart([f"{row.model}, setting {row.setting}" for row, _ in cells], {"LRAP": values}, splits,
                       paper=[lrap["paper"] for _, lrap in cells], ours_label=f"our LRAP ({results.dataset})",
                       static=static, alt=title)
    plt.close(static)
    return figure


MIN_SPLITS = 3  # fewer paired differences than this: no verdict
ALPHA = 0.05  # two-sided level of the paired t-test
VERDICTS = ("above", "below", "level with", "too few splits to judge")


@dataclass(frozen=True)
class Comparison:
    """Cell ``a`` against cell ``b`` of the tables, split by split.

    Attributes
    ----------
    a, b : tuple of (str, int)
        The cells compared, as ``(model, setting)``.
    diffs : tuple of float
        ``a - b`` on each split both cells were scored on, in split order.
    epochs : int or None
        Training epochs of the runs behind both cells (for the sentence; None: unknown).
    metric : str
        ``"lrap"`` or ``"map"``.
    """

    a: tuple[str, int]
    b: tuple[str, int]
    diffs: tuple[float, ...]
    epochs: int | None = None
    metric: str = "lrap"

    @property
    def n(self) -> int:
        """Number of splits, i.e. of paired differences."""
        return len(self.diffs)

    @property
    def mean(self) -> float:
        """Mean paired difference :math:`\\bar d = \\frac1n \\sum_k (a_k - b_k)`."""
        return statistics.fmean(self.diffs)

    @property
    def std(self) -> float:
        """Sample standard deviation :math:`s_d` of the paired differences (0 for one split)."""
        return statistics.stdev(self.diffs) if self.n > 1 else 0.0

    @property
    def se(self) -> float:
        """Standard error of the mean difference, :math:`s_d / \\sqrt n`."""
        return self.std / math.sqrt(self.n)

    @property
    def p_value(self) -> float:
        """Two-sided p-value of the paired t-test of :math:`\\bar d = 0` (nan below 2 splits).

        :math:`t = \\bar d / (s_d / \\sqrt n)` against Student's t with :math:`n - 1`
        degrees of freedom. Identical differences (:math:`s_d = 0`) give 0 if they are not
        all zero, else 1.
        """
        if self.n < 2:
            return math.nan
        if self.se == 0.0:
            return 0.0 if self.mean != 0.0 else 1.0
        from scipy.stats import t as student_t

        return float(2 * student_t.sf(abs(self.mean / self.se), self.n - 1))

    @property
    def verdict(self) -> str:
        """``"above"``, ``"below"``, ``"level with"`` or ``"too few splits to judge"``; see :func:`compare`."""
        if self.n < MIN_SPLITS:
            return VERDICTS[3]
        if self.p_value < ALPHA:
            return "above" if self.mean > 0 else "below"
        return "level with"

    def evidence(self) -> str:
        """What the verdict rests on, e.g. ``"5 splits, 20 epochs"``."""
        splits = f"{self.n} split{'s' if self.n != 1 else ''}"
        return splits if self.epochs is None else f"{splits}, {self.epochs} epochs"

    def describe(self) -> str:
        """The verdict with its evidence, as one Markdown phrase for a sentence."""
        if self.n < MIN_SPLITS:
            return (f"not judged: {self.evidence()} are too few to judge (at least {MIN_SPLITS} "
                    f"splits needed; mean paired difference {self.mean:+.3f})")
        return (f"**{self.verdict}** (mean paired difference {self.mean:+.3f} ± {self.se:.3f} "
                f"standard error, paired t-test p = {self.p_value:.2g}; {self.evidence()})")


def compare(results: Results, a: tuple[str, int], b: tuple[str, int], epochs: int | None = None,
            metric: str = "lrap") -> Comparison:
    """Compare two table cells through their paired per-split differences.

    Both cells are scored on the same splits, so each split gives one paired difference
    :math:`d_k = a_k - b_k`: what the split's data does to both cells (an easy or a hard
    test set) cancels in it, and only the difference between the models remains. The
    verdict applies a two-sided paired t-test at the 5% level to the :math:`d_k`:

    - fewer than 3 splits: ``"too few splits to judge"`` (with 2 differences the test has
      one degree of freedom and needs :math:`|t| > 12.7`; its spread estimate is
      unusable, so no verdict is given at all);
    - :math:`p < 0.05`: ``"above"`` or ``"below"``, by the sign of :math:`\\bar d`;
    - otherwise ``"level with"``: no difference is resolved on these splits, which is
      not a proof that the cells are equal.

    Why this rule: it is the standard test for paired measurements, it uses the pairing
    (unlike comparing the two cells' spreads), and with the paper's 5 splits it asks for
    :math:`|\\bar d| > 2.78\\, s_d/\\sqrt 5`. The splits share part of their
    training data, so the differences are not fully independent and the test is
    somewhat optimistic (Nadeau & Bengio, *Inference for the generalization error*,
    2003); every verdict therefore states how many splits and epochs it rests on.

    Parameters
    ----------
    results : Results
        Per-split scores holding both cells (merge two runs of :func:`run_table` with
        ``Results(r1.rows + r2.rows, ...)`` to compare across tables).
    a, b : tuple of (str, int)
        The cells, as ``(model, setting)``; the difference is ``a - b``.
    epochs : int, optional
        Training epochs behind the cells, quoted in :meth:`Comparison.evidence`.
    metric : str
        ``"lrap"`` (the paper's) or ``"map"``.
    """
    def per_split(cell):
        values = {r["split"]: r["value"] for r in results.rows
                  if (r["model"], r["setting"], r["metric"]) == (*cell, metric)}
        if not values:
            raise KeyError(f"no {metric} results for {cell[0]} in setting {cell[1]}; the results hold "
                           f"{sorted({(r['model'], r['setting']) for r in results.rows})}: run that cell first")
        return values

    va, vb = per_split(a), per_split(b)
    shared = sorted(set(va) & set(vb))
    if not shared:
        raise ValueError(f"{a} and {b} share no split ({sorted(va)} vs {sorted(vb)}): nothing to pair")
    return Comparison(tuple(a), tuple(b), tuple(va[k] - vb[k] for k in shared), epochs, metric)


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
        from .datasets import get_dataset

        preset = get_dataset(dataset).preset
        if quick:
            return cls(splits or 2, epochs or 5, preset, 500, True, dataset)
        return cls(splits or 5, epochs, preset, 1000, False, dataset)

    @property
    def n_epochs(self) -> int:
        """The epochs the runs train for (the preset's when not overridden)."""
        return self.train_preset().train.epochs

    def train_preset(self):
        """The preset the runs train with: ``preset`` with this mode's epochs (and, when they
        are overridden, the KL warm-up capped at half of them, :meth:`Preset.with_epochs`)."""
        from .runs import resolve_preset

        return resolve_preset(self.preset, self.epochs)

    def banner(self) -> str:
        """One Markdown line that every chapter shows first: which build made this page.

        A quick build also says what it changes against the full one: fewer splits, fewer
        epochs and, with fewer epochs, a shorter KL warm-up.
        """
        from .config import get_preset
        from .datasets import get_dataset

        base, used = get_preset(self.preset).train, self.train_preset().train
        what = f"{self.dataset}, {self.splits} of {get_dataset(self.dataset).splits} splits, "
        if used.epochs == base.epochs:
            what += f"{used.epochs} epochs"
        else:
            what += f"{used.epochs} epochs instead of the preset's {base.epochs}"
            if used.kl_warmup_epochs != base.kl_warmup_epochs:
                what += f", KL warm-up {used.kl_warmup_epochs} epochs instead of {base.kl_warmup_epochs}"
        what += f", preset `{self.preset}`"
        if self.quick:
            return (f"**Quick build** ({what}): a smoke test of the book, not the reproduction; "
                    "`python3 scripts/build_book.py` builds the full one.")
        return f"**Full build** ({what})."


def build_report(record: dict | None) -> str:
    """The build record written by ``scripts/build_book.py`` as Markdown: the machine, then
    each chapter's execution time in a table (None: say that there is no record)."""
    if record is None:
        return ("No build record was found beside this page: it is written by "
                "`python3 scripts/build_book.py`, which executes every chapter and then this page. "
                "Run in Jupyter on its own, this page has nothing to show.")
    m = record["machine"]
    lines = [f"This was a **{record['mode']} build** on `{record['dataset']}`, started "
             f"{record['started']}, on this machine:", "",
             f"- CPU: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads)",
             f"- device the models trained on: `{m['device']}`",
             f"- torch {m['torch']}, Python {m['python']}",
             f"- platform: `{m['platform']}`", "",
             # a caption line, not a {table} directive: Sphinx would number it "Table 1" on this
             # unnumbered page, which reads as the paper's Table 1
             "**Execution time of each chapter** in this build (papermill, wall clock), in the order "
             "the chapters ran:", "",
             "| chapter | seconds |", "|:--|--:|"]
    total = 0.0
    for c in record["chapters"]:
        if c["chapter"] == "book/build_report":  # this page (present when it is rerun after a build)
            continue
        total += c["seconds"]
        lines.append(f"| {{doc}}`{c['title']} </{c['chapter']}>` | {c['seconds']:.1f} |")
    lines += [f"| **all chapters before this one** | **{total:.1f}** |"]
    return "\n".join(lines)
