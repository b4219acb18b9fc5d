"""Table 3's verdicts: every comparison of the chapter, corrected together with Holm's step-down.

Each row against the paper's setting 4 (the MVAE with zeros) in every column, the highest row
against its runner-up (a best is named only when resolved), and each model's likelihoods
against the highest where the difference exceeds the resolution of the estimates
(:mod:`mvae_lib.settling`). The tests are :func:`mvae_lib.stats.compare`'s paired t-tests.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .results import Results
from .stats import MIN_SPLITS, Comparison, adjust, compare
from .table3 import LL_METRICS, TABLE3_ROWS, Row3

#: The columns the chapter judges besides the likelihoods.
VERDICT_METRICS = ("lrap_both", "lrap_joint", "lrap_image", "lrap_image_fit", "gen_ap", "coherence")
#: The likelihoods, judged where a difference exceeds the resolution of the estimates.
LL_VERDICT_METRICS = ("ll_joint", "ll_cond")
#: Columns that belong to a model rather than to how it sees an image alone (one row per model).
MODEL_METRICS = ("lrap_both", "lrap_joint", "map_both", "map_joint", *LL_METRICS)
REFERENCE = Row3("MVAE", "zeros")  #: the paper's setting 4


@dataclass(frozen=True)
class Judged:
    """One comparison of Table 3's verdicts: ``row`` minus ``other`` in column ``metric``.

    ``kind`` is ``"reference"`` (a row against the MVAE with zeros), ``"best"`` (the highest
    row against the runner-up) or ``"ll"`` (a model's likelihood against the highest).
    ``in_family``: whether the test is run, i.e. counted in the Holm family (a likelihood
    difference within the resolution of the estimates is not tested at all).
    """

    kind: str
    metric: str
    row: Row3
    other: Row3
    comparison: Comparison
    resolution: float | None = None
    in_family: bool = True

    @property
    def verdict(self) -> str:
        if not self.in_family:
            return "not resolved: below the resolution"
        return self.comparison.verdict

    @property
    def resolved(self) -> bool:
        """Whether the verdict tells the two apart (above or below after the correction)."""
        return self.in_family and self.verdict in ("above", "below")


@dataclass(frozen=True)
class Table3Verdicts:
    """Every verdict of the chapter "Table 3", corrected together (:func:`table3_verdicts`)."""

    judged: tuple[Judged, ...]
    family: int  # tests in the Holm family
    splits: int

    def of(self, kind: str, metric: str | None = None) -> list[Judged]:
        return [j for j in self.judged if j.kind == kind and (metric is None or j.metric == metric)]

    def best(self, metric: str) -> Judged:
        """The highest row of ``metric`` against its runner-up (for a likelihood: the runner-up
        against the highest, with the sign turned so that ``row`` is the highest)."""
        return next(j for j in self.judged if j.kind == "best" and j.metric == metric)


def _has(results: Results, row: Row3, metric: str) -> bool:
    return any((r["model"], r["setting"], r["metric"]) == (row.name, row.fill, metric) for r in results.rows)


def judged_rows(results: Results, metric: str, rows=TABLE3_ROWS) -> list[Row3]:
    """The rows judged in column ``metric``: those scored on it, one per model (its first row) in
    a column that belongs to the model (:data:`MODEL_METRICS`), where its fills repeat one value."""
    have = [r for r in rows if _has(results, r, metric)]
    if metric not in MODEL_METRICS:
        return have
    first = {}
    for r in have:
        first.setdefault(r.name, r)
    return list(first.values())


def table3_verdicts(results: Results, resolutions: dict[str, float], epochs: int | None = None,
                    rows=TABLE3_ROWS) -> Table3Verdicts:
    """Every verdict of Table 3's chapter, as one family corrected with Holm's step-down.

    - For each column of :data:`VERDICT_METRICS`: every row against the MVAE with zeros
      (:data:`REFERENCE`, the paper's setting 4), and the highest row against the runner-up
      (a row is named the best only if that difference is resolved);
    - for each log-likelihood (:data:`LL_VERDICT_METRICS`): every model against the highest,
      tested only where the difference exceeds ``resolutions[metric]`` (the settling check of
      :mod:`mvae_lib.settling`); the highest is named only if the runner-up is resolved below it.

    Each test is :func:`mvae_lib.stats.compare`'s paired t-test; all of them form one family,
    and every p-value is adjusted over it (:func:`mvae_lib.stats.adjust`): the chance of any
    false verdict on the page stays below 5%. A pair compared twice (the best and the runner-up
    may be a row and the reference; a model's "one code" column repeats its "x and w" column
    where its codes of both are one code) is tested once. Fewer than 3 splits: no verdict.
    """
    raw: list[Judged] = []

    def cmp(metric, a: Row3, b: Row3) -> Comparison:
        return compare(results, (a.name, a.fill), (b.name, b.fill), epochs, metric)

    def ordered(metric):
        return sorted(judged_rows(results, metric, rows),
                      key=lambda r: -results.cell(r.name, r.fill, metric)["mean"])

    for metric in VERDICT_METRICS:
        cands = judged_rows(results, metric, rows)
        if len(cands) < 2:
            continue
        ref = next((r for r in cands if r.model == REFERENCE.model and
                    (metric in MODEL_METRICS or r.fill == REFERENCE.fill)), None)
        for r in cands:
            if ref is not None and r != ref:
                raw.append(Judged("reference", metric, r, ref, cmp(metric, r, ref)))
        top = ordered(metric)
        raw.append(Judged("best", metric, top[0], top[1], cmp(metric, top[0], top[1])))
    for metric in LL_VERDICT_METRICS:
        top = ordered(metric)
        if len(top) < 2:
            continue
        res = resolutions[metric]
        for r in top[1:]:
            c = cmp(metric, r, top[0])
            raw.append(Judged("ll", metric, r, top[0], c, res, abs(c.mean) > res))
        runner = raw[-(len(top) - 1)]  # the runner-up against the highest
        c = cmp(metric, top[0], top[1])
        raw.append(Judged("best", metric, top[0], top[1], c, res, runner.in_family))

    # one test per pair of cells, whichever way round it was asked; and one for two columns
    # that hold the same numbers for a pair (a model's one code of both is its code of both)
    def pair(j):
        a, b = (j.row.name, j.row.fill), (j.other.name, j.other.fill)
        diffs = j.comparison.diffs if a < b else tuple(-d for d in j.comparison.diffs)
        key = j.metric if j.metric not in ("lrap_both", "lrap_joint") else "lrap_both/joint"
        return key, min(a, b), max(a, b), tuple(round(d, 12) for d in diffs)

    tested: dict[tuple, Comparison] = {}
    for j in raw:
        if j.in_family:
            tested.setdefault(pair(j), j.comparison)
    keys = list(tested)
    adjusted = dict(zip(keys, adjust([tested[k] for k in keys])))
    judged = []
    for j in raw:
        if j.in_family:
            a = adjusted[pair(j)]
            c = replace(j.comparison, p_adjusted=a.p_adjusted, family=a.family)
            j = replace(j, comparison=c)
        judged.append(j)
    family = sum(c.n >= MIN_SPLITS for c in tested.values())
    n = max((j.comparison.n for j in judged), default=0)
    return Table3Verdicts(tuple(judged), family, n)
