"""Table 4 (four quadrants observed k at a time) as text and Markdown; nothing here computes a score."""
from __future__ import annotations

from ..paper import SOHN_REPORTED, SOHN_SOURCE
from ..results import Results
from ..table4 import CVAE_MODEL, SOHN_CONFIGS, TABLE4_ROWS, key_of
from .tables import PM, captioned, pm

def blocks(M: int = 4) -> dict:
    """Table 4's blocks for data of ``M`` modalities: name -> (title, [(metric, setting)])."""
    ks = range(1, M + 1)
    return {
        "acc": ("digit accuracy of the probe on the code of the observed modalities",
                [("acc", k) for k in ks]),
        "fit": ("the same, with a probe fitted on training codes of the observed modalities "
                "(one code: a mixture's joint code, with a probe fitted on such codes)",
                [("acc_fit", k) for k in ks[:-1]] + [("acc_joint", M)]),
        "coherence": ("coherence: a digit classifier on the observed parts completed by the generated ones",
                      [("coherence", k) for k in ks]),
        "ll": ("log-likelihood of the missing modalities given the observed, nats per test example",
               [("ll_cond", k) for k in ks[:-1]] + [("ess_cond", 1)]),
        "joint": ("log-likelihood of all the modalities and the model's own bound, nats per test example",
                  [("ll_joint", M), ("ess_joint", M), ("bound", M)]),
    }


def modalities_of(results: Results) -> int:
    """M: the largest number of observed modalities in ``results``."""
    return max(r["setting"] for r in results.rows if isinstance(r["setting"], int))


BLOCKS = blocks(4)
HEADINGS = {"acc": "k={k}", "acc_joint": "one code", "acc_fit": "k={k}", "coherence": "k={k}",
            "ll_cond": "log p(rest | k)", "ll_joint": "log p(x)", "ess_joint": "ESS", "ess_cond": "ESS, k={k}",
            "bound": "own bound"}


def heading(metric: str, k) -> str:
    text = HEADINGS[metric].format(k=k)
    return text.replace("k)", f"{k})") if metric == "ll_cond" else text


def escape(text: str) -> str:
    """``text`` for a Markdown table cell: a ``|`` (as in "log p(rest | 1)") escaped."""
    return text.replace("|", "\\|")


def _cells(results: Results) -> dict:
    return {(r["model"], r["setting"], r["metric"]): r for r in results.summary()}


def _value(cell, digits: int) -> str:
    return "–" if cell is None else pm(cell["mean"], cell["std"], digits)


def _digits(metric: str) -> int:
    return 1 if metric.startswith(("ll_", "ess", "bound")) else 3


def row_labels(results: Results, rows=TABLE4_ROWS) -> list[str]:
    present = {r["model"] for r in results.rows}
    return [row.label for row in rows if row.label in present]


def format_table4(results: Results, rows=TABLE4_ROWS) -> str:
    """Table 4 as plain text (command line), one block per kind of score."""
    cells = _cells(results)
    n = max((c["n_splits"] for c in cells.values()), default=0)
    M = modalities_of(results)
    lines = ["", f"Table 4 ({results.dataset}; mean +- std over {n} splits; k of the {M} modalities observed, "
                 "each score averaged over every subset of that size)"]
    for title, cols in blocks(M).values():
        lines.append(title)
        widths = [16] * len(cols)
        lines.append(f"{'model':<16}" + "".join(f"{heading(m, k):>{w}}" for (m, k), w in zip(cols, widths)))
        for label in row_labels(results, rows):
            values = [_value(cells.get((label, k, m)), _digits(m)).replace(PM, " +- ") for m, k in cols]
            lines.append(f"{label:<16}" + "".join(f"{v:>{w}}" for v, w in zip(values, widths)))
        lines.append("")
    if any(r["model"] == CVAE_MODEL for r in results.rows):
        lines.append(format_sohn(results))
    return "\n".join(lines)


def sohn_rows(results: Results, rows=TABLE4_ROWS) -> list[tuple[str, list]]:
    """Negative conditional log-likelihood on Sohn et al.'s configurations: our CVAE and
    joint models (mean, std over splits) per configuration."""
    cells = _cells(results)
    out = []
    for label in [CVAE_MODEL] + row_labels(results, rows):
        values = [cells.get((label, key_of(c), "ll_cond")) for c in SOHN_CONFIGS]
        if any(v is not None for v in values):
            out.append((label, values))
    return out


def format_sohn(results: Results, rows=TABLE4_ROWS) -> str:
    lines = ["Negative conditional log-likelihood -log p(missing | observed), nats, on Sohn et al.'s "
             "configurations (observed: " + "; ".join(key_of(c) for c in SOHN_CONFIGS) + ")",
             f"{'model':<36}" + "".join(f"{f'{len(c)} observed':>16}" for c in SOHN_CONFIGS)]
    for label, values in sohn_rows(results, rows):
        texts = ["–" if v is None else f"{-v['mean']:.1f} +- {v['std']:.1f}" for v in values]
        lines.append(f"{('ours: ' + label):<36}" + "".join(f"{t:>16}" for t in texts))
    for model in ("deterministic network", "CVAE"):
        lines.append(f"{('Pyro reproduction: ' + model):<36}" + "".join(
            f"{SOHN_REPORTED[(model, len(c))]:>16.1f}" for c in SOHN_CONFIGS))
    lines.append(f"Pyro reproduction: {SOHN_SOURCE}. Not directly comparable: 60,000 training digits against our 3,000, "
                 "grey-level targets against our binarised ones, larger networks.")
    return "\n".join(lines)


def markdown_table4(results: Results, block: str, rows=TABLE4_ROWS, caption: str | None = None,
                    name: str | None = None) -> str:
    """One block of Table 4 (a key of ``BLOCKS``) as Markdown."""
    cells = _cells(results)
    _, cols = blocks(modalities_of(results))[block]
    lines = ["| model | " + " | ".join(escape(heading(m, k)) for m, k in cols) + " |",
             "|:--|" + "--:|" * len(cols)]
    for label in row_labels(results, rows):
        lines.append(f"| {label} | " + " | ".join(_value(cells.get((label, k, m)), _digits(m)) for m, k in cols)
                     + " |")
    return captioned("\n".join(lines), caption, name)


def markdown_sohn(results: Results, rows=TABLE4_ROWS, caption: str | None = None, name: str | None = None) -> str:
    """Sohn et al.'s configurations as Markdown: ours (mean ± std over splits), then theirs, labelled."""
    lines = ["| | " + " | ".join(f"{len(c)} observed ({key_of(c)})" for c in SOHN_CONFIGS) + " |",
             "|:--|" + "--:|" * len(SOHN_CONFIGS)]
    for label, values in sohn_rows(results, rows):
        lines.append(f"| ours: {label} | " + " | ".join(
            "–" if v is None else pm(-v["mean"], v["std"], 1) for v in values) + " |")
    for model in ("deterministic network", "CVAE"):
        lines.append(f"| theirs (Pyro's reproduction): {model} | " + " | ".join(
            f"{SOHN_REPORTED[(model, len(c))]:.1f}" for c in SOHN_CONFIGS) + " |")
    return captioned("\n".join(lines), caption, name)


VERDICT_HEADINGS = {"acc": "probe, k={k}", "acc_joint": "probe, one code", "acc_fit": "own probe, k={k}",
                    "coherence": "coherence, k={k}", "ll_cond": "log p(rest | {k})", "ll_joint": "log p(x)",
                    "bound": "own bound"}
SYMBOL = {"above": "▲", "below": "▼", "level with": "=", "too few splits to judge": "?"}


def _verdict_cell(c, digits: int) -> str:
    """A table cell: the mean paired difference and its verdict's :data:`SYMBOL`."""
    return f"{c.mean:+.{digits}f}\u00a0{SYMBOL[c.verdict]}"


def verdict_phrase(c, digits: int = 3, unit: str = "") -> str:
    """A verdict for a sentence: ``**above** (+0.123, Holm-adjusted p = ...)`` (``unit`` after
    the number: ``" nats"``), or, below
    :data:`mvae_lib.stats.MIN_SPLITS` splits, ``not judged (+0.123 on 2 splits, too few)``."""
    from ..stats import MIN_SPLITS

    if c.n < MIN_SPLITS:
        return f"not judged ({c.mean:+.{digits}f}{unit} on {c.n} splits, too few)"
    return f"**{c.verdict}** ({c.mean:+.{digits}f}{unit}, {c.p_text()})"


def markdown_verdicts4(comparisons, columns, caption: str | None = None, name: str | None = None,
                       reference: str = "") -> str:
    """Table 4's verdicts as Markdown: one row per model, one column per judged column; each
    cell the mean paired difference against the reference and its verdict (▲ above, ▼ below,
    = level with, after the Holm correction)."""
    by = {(c.a[0], c.metric, c.a[1]): c for c in comparisons}
    labels = list(dict.fromkeys(c.a[0] for c in comparisons))
    head = [escape(VERDICT_HEADINGS[m].format(k=k)) for m, k in columns]
    lines = [f"| {reference or 'row'} minus | " + " | ".join(head) + " |", "|:--|" + "--:|" * len(columns)]
    for label in labels:
        cells = []
        for m, k in columns:
            c = by.get((label, m, k))
            if c is None:
                cells.append("")
                continue
            cells.append(_verdict_cell(c, _digits(m)))
        if any(cells):  # a row none of whose columns is judged here is left out
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return captioned("\n".join(lines), caption, name)


def markdown_sohn_verdicts(comparisons, configs, caption: str | None = None, name: str | None = None) -> str:
    """The conditional VAE against each joint model (:func:`mvae_lib.table4.sohn_verdicts`)
    as Markdown: one row per joint model, one column per metric and configuration, each cell
    the mean paired difference (CVAE minus the model) and its verdict symbol (as
    :func:`markdown_verdicts4`)."""
    from ..table4 import key_of

    heads = [f"{len(c)} observed, {m}" for m in ("ll", "coherence") for c in configs]
    lines = ["| CVAE minus | " + " | ".join(heads) + " |", "|:--|" + "--:|" * (2 * len(configs))]
    by = {(c.b[0], c.metric, c.b[1]): c for c in comparisons}
    for label in dict.fromkeys(c.b[0] for c in comparisons):
        cells = []
        for metric, digits in (("ll_cond", 1), ("coherence", 3)):
            for conf in configs:
                c = by.get((label, metric, key_of(conf)))
                cells.append("" if c is None else _verdict_cell(c, digits))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return captioned("\n".join(lines), caption, name)
