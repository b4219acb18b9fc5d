"""Comparing two cells of the tables split by split: the paired t-test behind every verdict.

Both cells of a comparison are scored on the same splits, so each split gives one paired
difference; :func:`compare` judges their mean with a two-sided paired t-test
(:class:`Comparison`), and :func:`compare_encodings` does the same for one cell read with
two encodings of its codes. :func:`relation` is the rough reading of two numbers measured on
one split only, where no test is possible. The chapter "Table 1" explains the rule.

A chapter that runs many tests at once corrects them together: :func:`holm` adjusts a family's
p-values (Holm's step-down), and :func:`adjust` gives each comparison of a family its adjusted
p-value, which its verdict then uses (the chapter "Table 3").
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .results import Results

MIN_SPLITS = 3  #: the fewest paired differences a verdict is given on
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
        ``"lrap"`` or ``"map"`` (or any column of Table 3).
    p_adjusted : float or None
        The p-value adjusted for the family of tests it belongs to (:func:`adjust`), which
        the verdict then uses; None: judged alone, on :attr:`p_value`.
    family : int or None
        How many tests that family holds.
    """

    a: tuple[str, int]
    b: tuple[str, int]
    diffs: tuple[float, ...]
    epochs: int | None = None
    metric: str = "lrap"
    p_adjusted: float | None = None
    family: int | None = None

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
    def p(self) -> float:
        """The p-value that the verdict uses, which is :attr:`p_adjusted` if the comparison
        belongs to a corrected family, else :attr:`p_value`."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def verdict(self) -> str:
        """``"above"``, ``"below"``, ``"level with"`` or ``"too few splits to judge"``; see :func:`compare`
        (in a corrected family, the test is on the adjusted p-value, :attr:`p`)."""
        if self.n < MIN_SPLITS:
            return VERDICTS[3]
        if self.p < ALPHA:
            return "above" if self.mean > 0 else "below"
        return "level with"

    def p_text(self) -> str:
        """``"p = 0.012"``, or ``"Holm-adjusted p = 0.048 (of 56 tests)"`` in a corrected family."""
        if self.p_adjusted is None:
            return f"paired t-test p = {self.p_value:.2g}"
        return f"Holm-adjusted p = {self.p_adjusted:.2g} (family of {self.family} tests)"

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
                f"standard error, {self.p_text()}; {self.evidence()})")


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
        Per-split scores holding both cells (merge two runs of :func:`mvae_lib.run_table` with
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


def compare_encodings(sampled: Results, mean: Results, cell: tuple[str, int], epochs: int | None = None,
                      metric: str = "lrap") -> Comparison:
    """One cell read with posterior means against the same cell read with sampled codes, split by
    split: :func:`compare` of ``mean`` minus ``sampled`` (``a`` is named ``"<model>-mean"``)."""
    model, setting = cell
    both = Results([{**r, "model": f"{r['model']}-mean"} for r in mean.rows] + sampled.rows, sampled.dataset, {})
    return compare(both, (f"{model}-mean", setting), (model, setting), epochs, metric)


def holm(p_values) -> list[float]:
    r"""Holm's step-down adjusted p-values of a family of ``m`` tests, in the order given.

    With the p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`, the adjusted value of
    the :math:`i`-th is

    .. math:: \tilde p_{(i)} = \max_{j \le i} \min\big(1, (m - j + 1)\, p_{(j)}\big),

    and a test is rejected at level :math:`\alpha` when :math:`\tilde p < \alpha`. That is
    Holm's procedure (Holm, *A simple sequentially rejective multiple test procedure*, 1979):
    compare :math:`p_{(1)}` with :math:`\alpha / m`, then :math:`p_{(2)}` with
    :math:`\alpha / (m - 1)`, ..., and stop at the first that is not below. It keeps the
    chance of *any* false verdict in the family below :math:`\alpha` whatever the
    dependence between the tests, and rejects at least what Bonferroni rejects.
    """
    p_values = [float(p) for p in p_values]
    if any(math.isnan(p) or not 0 <= p <= 1 for p in p_values):
        raise ValueError(f"p-values must lie in [0, 1]; found {p_values}")
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def adjust(comparisons: list[Comparison]) -> list[Comparison]:
    """The comparisons of one family, each with its Holm-adjusted p-value (:func:`holm`), in
    the order given. Comparisons on fewer than :data:`MIN_SPLITS` splits are given no verdict
    whatever the correction, so they are not in the family and come back unchanged."""
    from dataclasses import replace

    judged = [i for i, c in enumerate(comparisons) if c.n >= MIN_SPLITS]
    adjusted = holm([comparisons[i].p_value for i in judged])
    out = list(comparisons)
    for i, p in zip(judged, adjusted):
        out[i] = replace(comparisons[i], p_adjusted=p, family=len(judged))
    return out


def relation(a: float, b: float, tol: float = 0.01) -> str:
    """``a`` against ``b`` measured on one split: ``"above"``, ``"below"``, or ``"level with"``
    when they are within ``tol`` (a rough threshold of ours, not a test: one split gives no spread)."""
    if abs(a - b) <= tol:
        return "level with"
    return "above" if a > b else "below"
