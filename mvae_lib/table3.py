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

import torch

from . import runcache
from .config import Preset
from .crossmodal import CODES_VERSION, FILLS, evaluate_missing
from .datasets import check_available, load_split
from .models import VariationalModel, model_names, model_spec
from .results import Results
from .runner import default_workers, parse_devices, run_jobs, run_threads_on
from .runs import Run, fills_by_model, get_run, resolve_preset, split_list
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
    options: tuple[tuple[str, float | str], ...] = ()

    @property
    def name(self) -> str:
        """The model with its options, as results name it (``"JMVAE-kl (alpha=1)"``)."""
        if not self.options:
            return self.model
        return f"{self.model} (" + ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                                              for k, v in self.options) + ")"

    @property
    def label(self) -> str:
        return self.name if self.fill == OWN else f"{self.name}, {self.fill}"


TABLE3_ROWS = (
    Row3("MAE", "zeros"), *(Row3("MVAE", f) for f in FILLS),
    Row3("JMVAE-kl"), Row3("PoE"), Row3("MMVAE"), Row3("MoPoE"), Row3("MMVAE+"),
)
TABLE3_METRICS = {  # column: (heading, what it measures)
    "lrap_both": ("LRAP, x and w", "the probe on codes of the image and its tags (for a mixture, a draw of "
                  "its posterior: a code of one expert or subset)"),
    "lrap_joint": ("LRAP, x and w, one code", "the probe on codes that combine both modalities (for a "
                   "mixture, joint_code; for every other model its codes of both)"),
    "lrap_image": ("LRAP, x only", "the probe on codes of the image alone"),
    "lrap_image_fit": ("LRAP, x only, x-only probe", "a probe fitted on training codes of the image alone, "
                       "on test codes of the image alone"),
    "map_both": ("macro AP, x and w", ""),
    "map_joint": ("macro AP, x and w, one code", ""),
    "map_image": ("macro AP, x only", ""),
    "map_image_fit": ("macro AP, x only, x-only probe", ""),
    "gen_ap": ("AP of generated w", "the generated tag probabilities against the true tags"),
    "coherence": ("coherence", "a classifier trained on real w, applied to generated w"),
    "ll_joint": ("log p(x, w)", "nats per test example; importance-weighted bound, a stochastic lower bound "
                 "(mvae_lib.iwae.conditional_estimate)"),
    "ess_joint": ("ESS, log p(x, w)", "median effective sample size of its K importance weights"),
    "ll_cond": ("log p(w | x)", "nats per test example; log p(x, w) - log p(x) from the same draws: consistent, "
                "bias of either sign (mvae_lib.iwae.conditional_estimate)"),
    "ess_cond": ("ESS, log p(w | x)", "median effective sample size of its weights (the smaller of those of "
                 "p(x, w) and p(x))"),
}
#: The scores of :func:`mvae_lib.crossmodal.evaluate_missing` every row has, and those of a
#: generative model besides: a saved row lacking one is scored again.
BASE_METRICS = ("lrap_both", "map_both", "lrap_image", "map_image", "gen_ap", "coherence")
LL_METRICS = ("ll_joint", "ll_cond", "ess_joint", "ess_cond")
#: The probe columns of :func:`probe_scores`, added to saved scores that lack them without
#: scoring the rest again (the likelihoods cost most of a run's scoring).
PROBE_METRICS = ("lrap_image_fit", "map_image_fit", "lrap_joint", "map_joint")
#: Version of :func:`probe_scores`, kept in the saved scores: probe columns of another
#: version are computed again (and only they).
PROBES_VERSION = 1
#: Version of the log-likelihood estimators: part of the key of saved scores, so that scores
#: kept by an older estimator (2: a difference of two independent bounds, no ESS; 3: on the
#: first test examples, all zeros on MNIST halves, instead of a random draw) are recomputed.
LL_ESTIMATOR = 4


@dataclass(frozen=True)
class EvalConfig:
    """How Table 3 is scored (ours: sized for a CPU).

    The log-likelihoods are importance-weighted estimates (:mod:`mvae_lib.iwae`); ``K`` and
    ``n_ll`` are sized for CPU time, not chosen where the estimates are known to have
    settled: the chapter "Encoders for every subset" measures, for every model and both
    columns, how far each estimate still moves from ``K`` to ``5 K`` draws and how much it
    varies between repeats (:func:`mvae_lib.settling.settle`), and the chapter "Table 3"
    gives no verdict on a difference of log-likelihoods smaller than that.

    Attributes
    ----------
    K : int
        Importance samples, shared by both log-likelihoods of an example
        (:func:`mvae_lib.iwae.conditional_estimate`): ``K`` decoder passes per example. Ours,
        for CPU time, not a value at which the estimates are known to have settled. 2,000
        costs what the former 1,000 did, when each of the two log-likelihoods had draws of
        its own (2 x 1,000 decoder passes per example); the quick build's 200 likewise
        replaces 2 x 100.
    n_ll : int
        Test examples whose log-likelihoods are estimated (drawn at random, the same for every
        model: :func:`mvae_lib.crossmodal.likelihood_examples`).
    samples : int
        Draws of z averaged per generated tag vector.
    """

    K: int = 2000
    n_ll: int = 100
    samples: int = 10


QUICK_EVALUATION = EvalConfig(K=200, n_ll=50, samples=5)  # the book's quick mode (CI): fewer samples


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
    return {"encoding": encoding, **asdict(evaluation), "ll_estimator": LL_ESTIMATOR, "codes": CODES_VERSION}


def saved_scores(run: Run, encoding: str = "sample", evaluation: EvalConfig = EvalConfig()) -> dict:
    """The Table 3 scores kept for ``run`` (``{fill or OWN: {metric: value}}``; ``{}`` if none)."""
    return runcache.load_scores(run.path, "table3", scores_spec(encoding, evaluation))


def probe_scores(model, split, fills: list[str | None], encoding: str = "sample", seed: int = 1,
                 missing: str = "w") -> dict[str | None, dict[str, float]]:
    """The probe columns that :func:`mvae_lib.crossmodal.evaluate_missing` does not compute, for
    each way in ``fills`` of seeing an image without its tags (None: the model's own posterior):

    - ``lrap_image_fit`` / ``map_image_fit``: a probe fitted on *training* codes of the image
      alone (seen the same way as the test images), scored on the test codes of the image
      alone that ``evaluate_missing`` scores (the same seed): the two columns differ only by
      the probe. It asks how much label information an image-only code holds, not whether it
      lies where codes of complete pairs lie;
    - ``lrap_joint`` / ``map_joint`` (models with a ``joint_code``, the mixtures): the probe
      fitted on training codes that combine both modalities and scored on such test codes
      (:meth:`mvae_lib.MoPoE.joint_code`, :meth:`mvae_lib.MMVAE.joint_code`). A draw of a
      mixture's posterior reads one expert or subset only, so its column ``lrap_both`` is
      not a code of both modalities. For other models :func:`score_run` repeats ``lrap_both``.
    """
    from .crossmodal import MissingView, collect
    from .evaluate import fit_probe, score

    device = next(model.parameters()).device
    model.eval()
    mean = split.train[missing].mean(0)
    gen = lambda s: torch.Generator(device=device).manual_seed(s)  # noqa: E731
    out = {}
    for fill_strategy in fills:
        view = MissingView(model, fill_strategy, mean, missing)
        g_train, g_test = gen(seed + 10), gen(seed + 2)  # seed + 2: evaluate_missing's test codes
        z_train = collect(lambda b: view.code(b, encoding, g_train), split.train, device)
        z_test = collect(lambda b: view.code(b, encoding, g_test), split.test, device)
        s = score(split.y_test, fit_probe(z_train, split.y_train).decision_function(z_test))
        out[fill_strategy] = {"lrap_image_fit": s["lrap"], "map_image_fit": s["map"]}
    joint = getattr(model, "joint_code", None)
    if joint is not None:
        g_train, g_test = gen(seed + 11), gen(seed + 12)
        z_train = collect(lambda b: joint(b, encoding, g_train), split.train, device)
        z_test = collect(lambda b: joint(b, encoding, g_test), split.test, device)
        s = score(split.y_test, fit_probe(z_train, split.y_train).decision_function(z_test))
        for scores in out.values():
            scores.update(lrap_joint=s["lrap"], map_joint=s["map"])
    return out


def _missing_scores(saved: dict, keys: list[str], model: str) -> tuple[list[str], list[str]]:
    """The keys (fills) of ``saved`` that lack a score of :func:`evaluate_missing`, and those
    that lack a probe column of this :data:`PROBES_VERSION`."""
    required = BASE_METRICS + (LL_METRICS if issubclass(model_spec(model).cls, VariationalModel) else ())
    base = [k for k in keys if not set(required) <= set(saved.get(k, {}))]
    probes = keys if saved.get("probes_version") != PROBES_VERSION else \
        [k for k in keys if not set(PROBE_METRICS) <= set(saved.get(k, {}))]
    return base, probes


def score_run(dataset: str, model: str, split: int, *, preset: Preset, out_dir, fills: list[str | None],
              options: dict | None = None, encoding: str = "sample", evaluation: EvalConfig = EvalConfig(),
              device=None, data_root=None, progress: bool = False) -> dict:
    """Table 3's scores of one model on one split, ``{fill: {metric: value}}`` (fill None: own
    encoder), from its saved run (trained first if it is not saved yet), kept beside it
    (:func:`mvae_lib.runcache.save_scores`, tied to the run's weights).

    Only what the saved scores lack is computed: a fill without every score of
    :func:`mvae_lib.crossmodal.evaluate_missing` is scored again (likelihoods included);
    saved scores that lack only the probe columns (``PROBE_METRICS`` of this
    ``PROBES_VERSION``: scores kept before those columns existed) get them from
    ``probe_scores`` alone, without estimating the likelihoods again."""
    run = get_run(dataset, model, 3, split, preset=preset, out_dir=out_dir, device=device, data_root=data_root,
                  progress=progress, options=options)
    spec = scores_spec(encoding, evaluation)
    keys = [OWN if f is None else f for f in fills]
    saved = runcache.load_scores(run.path, "table3", spec)
    need_base, need_probes = _missing_scores(saved, keys, model)
    if need_base or need_probes:
        device = pick_device(device)
        fill_of = {OWN if f is None else f: f for f in fills}
        with run_threads_on(preset, device):
            net, data = run.model(device), load_split(dataset, split, data_root)
            if need_base:
                scores = evaluate_missing(net, data, [fill_of[k] for k in need_base], encoding, K=evaluation.K,
                                          n_ll=evaluation.n_ll, samples=evaluation.samples, out_dir=out_dir)
                for f, v in scores.items():
                    key = OWN if f is None else f
                    saved[key] = {**saved.get(key, {}), **v}
            if need_probes:
                for f, v in probe_scores(net, data, [fill_of[k] for k in need_probes], encoding).items():
                    key = OWN if f is None else f
                    if "lrap_joint" not in v:  # its codes of both are already one code of both
                        v = {**v, "lrap_joint": saved[key]["lrap_both"], "map_joint": saved[key]["map_both"]}
                    saved[key] = {**saved[key], **v}
                saved["probes_version"] = PROBES_VERSION
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
    splits = split_list(splits)
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
    fills = fills_by_model(rows, OWN)
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
