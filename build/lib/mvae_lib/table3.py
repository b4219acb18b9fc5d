"""Table 3: the paper's open problem (an image without its tags) answered four ways.

One row per model and way of seeing an image without its tags: the MAE with zeros and the
MVAE with every fill strategy (:mod:`mvae_lib.crossmodal`) as references, then JMVAE-kl,
PoE, MMVAE and MoPoE with their own image-only posteriors. One column per score
(:func:`mvae_lib.crossmodal.evaluate_missing`), each the mean and standard deviation over the
same splits, with the same probe, as Tables 1-2.

Every model is a saved run of the grid (:func:`mvae_lib.runs.get_run`; the MAE and
MVAE runs are Table 2's, reused as they are). Its Table 3 scores are computed from the
saved weights once and kept beside the run (:func:`mvae_lib.runcache.save_scores`: keyed by
the evaluation settings and tied to the run's weights, so a retrained run is scored again),
so a rerun, or a book chapter, computes nothing twice. Runs are trained and scored in
parallel worker processes by the one runner (:func:`mvae_lib.runner.run_jobs`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from . import runcache
from .config import Preset
from .crossmodal import FILLS, evaluate_missing
from .datasets import check_available, load_split
from .models import model_names, model_spec
from .results import Results
from .runner import default_workers, parse_devices, run_jobs, run_threads, torch_threads
from .runs import Run, get_run, resolve_preset
from .settings import Row
from .tables import run_table
from .train import pick_device

OWN = "q(z|x)"  # the "fill" column of a model that encodes the image alone with its own encoder


@dataclass(frozen=True)
class Row3:
    """A row of Table 3: a model, how it sees an image without its tags (a fill, or OWN), and
    the model's own settings if not its defaults (e.g. ``(("alpha", 1.0),)`` for JMVAE-kl)."""

    model: str
    fill: str = OWN
    options: tuple[tuple[str, float], ...] = ()

    @property
    def name(self) -> str:
        """The model with its options, as results name it (``"JMVAE-kl (alpha=1)"``)."""
        if not self.options:
            return self.model
        return f"{self.model} (" + ", ".join(f"{k}={v:g}" for k, v in self.options) + ")"

    @property
    def label(self) -> str:
        return self.name if self.fill == OWN else f"{self.name}, {self.fill}"


TABLE3_ROWS = (
    Row3("MAE", "zeros"), *(Row3("MVAE", f) for f in FILLS),
    Row3("JMVAE-kl"), Row3("PoE"), Row3("MMVAE"), Row3("MoPoE"),
)
TABLE3_METRICS = {  # column: (heading, what it measures)
    "lrap_both": ("LRAP, x and w", "the probe on codes of the image and its tags"),
    "lrap_image": ("LRAP, x only", "the probe on codes of the image alone"),
    "map_both": ("macro AP, x and w", ""),
    "map_image": ("macro AP, x only", ""),
    "gen_ap": ("AP of generated w", "the generated tag probabilities against the true tags"),
    "coherence": ("coherence", "a classifier trained on real w, applied to generated w"),
    "ll_joint": ("log p(x, w)", "nats per test example, importance-weighted"),
    "ll_cond": ("log p(w | x)", "nats per test example, importance-weighted"),
}


@dataclass(frozen=True)
class EvalConfig:
    """How Table 3 is scored (ours: sized for a CPU; the book shows the estimates have settled).

    Attributes
    ----------
    K : int
        Importance samples per log-likelihood estimate.
    n_ll : int
        Test examples whose log-likelihoods are estimated (the first ``n_ll``).
    samples : int
        Draws of z averaged per generated tag vector.
    """

    K: int = 1000
    n_ll: int = 100
    samples: int = 10


QUICK_EVALUATION = EvalConfig(K=100, n_ll=50, samples=5)  # the book's quick mode (CI): fewer samples


def book_evaluation(quick: bool) -> EvalConfig:
    """The scoring settings of the book's chapters: the defaults, or fewer samples in quick mode."""
    return QUICK_EVALUATION if quick else EvalConfig()


def check_row3(row: Row3) -> None:
    """Raise a ValueError unless ``row`` is a model of settings 3-4 seen as it declares: a fill
    strategy for a joint encoder, :data:`OWN` for a model with an image-only posterior."""
    spec = model_spec(row.model)
    if spec.image_alone == "fill":
        if row.fill not in FILLS:
            raise ValueError(f"{row.model} has one encoder for x and w together: its Table 3 row needs a fill "
                             f"strategy, one of {list(FILLS)}; found {row.fill!r}")
    elif spec.image_alone == "own":
        if row.fill != OWN:
            raise ValueError(f"{row.model} encodes an image alone with its own encoder; found fill {row.fill!r}")
    else:
        raise ValueError(f"Table 3 compares models of two modalities ({model_names('fill') + model_names('own')}); "
                         f"found {row.model!r}")
    spec.check_options(dict(row.options))


def scores_spec(encoding: str, evaluation: EvalConfig) -> dict:
    """What a run's Table 3 scores depend on besides the run itself (the runcache key of its scores)."""
    return {"encoding": encoding, **asdict(evaluation)}


def saved_scores(run: Run, encoding: str = "sample", evaluation: EvalConfig = EvalConfig()) -> dict:
    """The Table 3 scores kept for ``run`` (``{fill or OWN: {metric: value}}``; ``{}`` if none)."""
    return runcache.load_scores(run.path, "table3", scores_spec(encoding, evaluation))


def score_run(dataset: str, model: str, split: int, *, preset: Preset, out_dir, fills: list[str | None],
              options: dict | None = None, encoding: str = "sample", evaluation: EvalConfig = EvalConfig(),
              device=None, data_root=None, progress: bool = False) -> dict:
    """Table 3's scores of one model on one split, ``{fill: {metric: value}}`` (fill None: own
    encoder), from its saved run (trained first if it is not saved yet), kept beside it
    (:func:`mvae_lib.runcache.save_scores`, tied to the run's weights)."""
    run = get_run(dataset, model, 3, split, preset=preset, out_dir=out_dir, device=device, data_root=data_root,
                  progress=progress, options=options)
    spec = scores_spec(encoding, evaluation)
    keys = [OWN if f is None else f for f in fills]
    saved = runcache.load_scores(run.path, "table3", spec)
    if not all(k in saved for k in keys):
        device = pick_device(device)
        with torch_threads(run_threads(preset) if device.type == "cpu" else None):
            scores = evaluate_missing(run.model(device), load_split(dataset, split, data_root), fills, encoding,
                                      K=evaluation.K, n_ll=evaluation.n_ll, samples=evaluation.samples)
        saved.update({OWN if f is None else f: v for f, v in scores.items()})
        runcache.save_scores(run.path, "table3", spec, saved)
    return {k: saved[k] for k in keys}


def run_table3(rows=TABLE3_ROWS, dataset: str = "mnist-halves", splits: int | list[int] = 5, *,
               preset: str | Preset = "small", epochs: int | None = None, out_dir="mvae_runs", device=None,
               encoding: str = "sample", data_root=None, progress: bool = True, workers: int | None = None,
               evaluation: EvalConfig = EvalConfig()) -> Results:
    """Train (or load) and score every row of Table 3 on every split; tidy results.

    In the tidy rows the ``setting`` field holds how the tags were filled in (a fill
    strategy, or ``"q(z|x)"`` for a model's own image-only encoder).
    """
    splits = list(range(splits)) if isinstance(splits, int) else list(splits)
    if not splits:
        raise ValueError("no splits asked for")
    for row in rows:
        check_row3(row)
    preset = resolve_preset(preset, epochs)
    check_available(dataset, splits, data_root)
    # 1. train what is missing through the grid (several devices, claims, workers that stop
    #    with their parent); runs with options are trained by their scoring job below
    plain = list(dict.fromkeys(row.model for row in rows if not row.options))
    trained = run_table([Row(3, m, 3) for m in plain], dataset, splits, preset=preset, out_dir=out_dir,
                        device=device, encoding=encoding, data_root=data_root, progress=progress, workers=workers)
    # 2. score every run once, through the same runner; the scores are kept beside each run
    devices = parse_devices(device)
    score_device = str(pick_device(devices[0]))
    fills: dict[tuple, list[str | None]] = {}
    for row in rows:
        fills.setdefault((row.model, row.options), []).append(None if row.fill == OWN else row.fill)
    jobs = {(k, m, o): dict(dataset=dataset, model=m, split=k, preset=preset, out_dir=out_dir, fills=f,
                            options=dict(o), encoding=encoding, evaluation=evaluation, device=score_device,
                            data_root=data_root)
            for k in splits for (m, o), f in fills.items()}
    workers = default_workers(score_device, preset) if workers is None else workers
    imports = tuple(sorted({model_spec(m).cls.__module__ for (_, m, _) in jobs}))
    start = time.perf_counter()
    scores = dict(run_jobs(score_run, jobs, workers=workers, progress=progress, desc="table 3 scores",
                           imports=imports))
    tidy = [{"dataset": dataset, "table": 3, "model": row.name, "setting": row.fill, "split": k,
             "metric": metric, "value": value, **({"options": dict(row.options)} if row.options else {})}
            for k in splits for row in rows
            for metric, value in scores[(k, row.model, row.options)][row.fill].items()]
    timing = {**trained.timing_s, "score": time.perf_counter() - start}  # scoring: wall time
    return Results(tidy, dataset, timing, encoding, trained.trained)


def table3_cells(results: Results, rows=TABLE3_ROWS) -> list[tuple[Row3, dict[str, dict]]]:
    """Each row with its summary entry per metric (mean, std, n_splits)."""
    summary = {(r["model"], r["setting"], r["metric"]): r for r in results.summary()}
    return [(row, {m: summary[(row.name, row.fill, m)] for m in TABLE3_METRICS
                   if (row.name, row.fill, m) in summary})
            for row in rows if any((row.name, row.fill, m) in summary for m in TABLE3_METRICS)]


def _value(cell: dict | None, digits: int) -> str:
    return "–" if cell is None else f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def format_table3(results: Results, rows=TABLE3_ROWS) -> str:
    """Table 3 as plain text (command line)."""
    cols = ["lrap_both", "lrap_image", "gen_ap", "coherence", "ll_joint", "ll_cond"]
    digits = {"ll_joint": 1, "ll_cond": 1}
    head = f"{'model, tags given by':<16}" + "".join(f"{TABLE3_METRICS[c][0]:>19}" for c in cols)
    codes = "sampled z" if results.encoding == "sample" else "posterior means"
    lines = ["", f"Table 3 ({results.dataset}, {codes}; mean +- std over splits; the image without its tags)",
             head]
    for row, cells in table3_cells(results, rows):
        lines.append(f"{row.label:<16}" + "".join(
            f"{_value(cells.get(c), digits.get(c, 3)).replace('±', '+-'):>19}" for c in cols))
    n = max((c["n_splits"] for _, cells in table3_cells(results, rows) for c in cells.values()), default=0)
    lines += ["", f"{n} splits. x only: the tags missing at test (filled in, or the model's own q(z|x)); "
              "the probe is fitted on training codes of x and w.",
              "log-likelihoods: nats per test example (importance-weighted, see mvae_lib.iwae)."]
    return "\n".join(lines)


def markdown_table3(results: Results, rows=TABLE3_ROWS, metrics=None, per_model: bool = False) -> str:
    """Table 3 as Markdown, for a notebook cell's output. ``per_model``: one row per model,
    without the fill column (for scores of the model itself, such as its likelihoods)."""
    metrics = list(metrics or TABLE3_METRICS)
    head = "| model | " if per_model else "| model | tags given by | "
    lines = [head + " | ".join(TABLE3_METRICS[m][0].replace("|", "\\|") for m in metrics) + " |",
             "|:--|" + ("" if per_model else ":--|") + "--:|" * len(metrics)]
    for row, cells in table3_cells(results, rows):
        fill = "" if per_model else ("its own $q(z \\mid x)$ | " if row.fill == OWN else f"{row.fill} | ")
        lines.append(f"| {row.name} | {fill}" + " | ".join(
            _value(cells.get(m), 1 if m.startswith("ll_") else 3) for m in metrics) + " |")
    return "\n".join(lines)


def plot_table3(results: Results, metrics=("lrap_image", "lrap_both"), rows=TABLE3_ROWS):
    """Bars of Table 3: one group per row, one bar per metric (mean +- std over splits), each
    split a dot. The dashed line marks the MVAE with zeros, the paper's setting 4."""
    import matplotlib.pyplot as plt
    import numpy as np

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


def interactive_table3(results: Results, metrics=("lrap_image", "lrap_both"), rows=TABLE3_ROWS):
    """Table 3 as an interactive bar chart (:func:`mvae_lib.interactive.bar_chart`): one bar
    per metric and row, every split on hover, the MVAE with zeros as a dashed line, and
    :func:`plot_table3`'s figure as its static image."""
    import matplotlib.pyplot as plt

    from .interactive import bar_chart
    from .report import split_values

    cells = table3_cells(results, rows)
    series = {}
    for metric in metrics:
        splits, series[TABLE3_METRICS[metric][0]] = split_values(
            results, [(row.name, row.fill) for row, _ in cells], metric)
    ref = dict(cells).get(Row3("MVAE", "zeros"), {}).get(metrics[0])
    static = plot_table3(results, metrics, rows)
    figure = bar_chart([row.label for row, _ in cells], series, splits, x_label="score",
                       reference=ref["mean"] if ref else None, static=static,
                       alt="Table 3: " + ", ".join(TABLE3_METRICS[m][0] for m in metrics))
    plt.close(static)
    return figure


def generate(model, fill: str, split, inputs, samples: int = 10, seed: int = 0):
    """:math:`p(w_d = 1 \\mid x)` of ``inputs`` under a Table 3 ``fill`` (or OWN), averaged over
    ``samples`` draws of z seeded by ``seed``: a (B, D_w) array. ``w`` in ``inputs`` is never read
    (:class:`mvae_lib.crossmodal.MissingView`)."""
    import torch

    from .crossmodal import MissingView

    view = MissingView(model, None if fill == OWN else fill, split.train["w"].mean(0))
    device = inputs["x"].device
    with torch.no_grad():
        return view.generate(inputs, samples, torch.Generator(device=device).manual_seed(seed)).cpu().numpy()


def generated_tags(dataset: str, rows, split: int, preset: Preset, out_dir, indices, device=None,
                   data_root=None, samples: int = 10, seed: int = 0):
    """The tags each row generates for the test examples ``indices`` of ``split``, from the
    saved runs: ``{row: (len(indices), D_w) array of probabilities}``, with the split."""
    import torch

    data = load_split(dataset, split, data_root)
    device = pick_device(device)
    batch = {m: torch.as_tensor(a[indices], dtype=torch.float32, device=device) for m, a in data.test.items()}
    out = {}
    for row in rows:
        run = get_run(dataset, row.model, 3, split, preset=preset, out_dir=out_dir, device=device,
                      data_root=data_root, progress=False, options=dict(row.options))
        out[row] = generate(run.model(device), row.fill, data, batch, samples, seed)
    return out, data
