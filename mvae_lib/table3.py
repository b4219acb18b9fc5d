"""Table 3: the paper's open problem (an image without its tags) answered four ways.

One row per model and way of seeing an image without its tags: the MAE with zeros and the
MVAE with every fill strategy (:mod:`mvae_lib.crossmodal`) as references, then JMVAE-kl,
PoE, MMVAE and MoPoE with their own image-only posteriors. One column per score
(:func:`mvae_lib.crossmodal.evaluate_missing`), each the mean and standard deviation over the
same splits, with the same probe, as Tables 1-2.

Every model is a saved run of the grid (:func:`mvae_lib.experiments.get_run`; the MAE and
MVAE runs are Table 2's, reused as they are). Its Table 3 scores are computed from the
saved weights once and kept beside the run (``<run>.table3-<encoding>-<hash>.json``, the
hash covering the evaluation settings), so a rerun, or a book chapter, computes nothing
twice. Runs are trained and scored in parallel worker processes, as the grid trains.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .config import Preset
from .crossmodal import FILLS, evaluate_missing
from .data import check_available, load_split
from . import workers as worker_pool
from .experiments import (Results, Row, _atomic_write, default_workers, get_run, parse_devices, resolve_preset,
                          run_table, torch_threads)
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
        """The model with its options, as results name it: ``"JMVAE-kl (alpha=1)"``."""
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
    from .models import MISSING_MODALITY_MODELS

    if row.model in ("MAE", "MVAE"):
        if row.fill not in FILLS:
            raise ValueError(f"{row.model} has one encoder for x and w together: its Table 3 row needs a fill "
                             f"strategy, one of {list(FILLS)}; found {row.fill!r}")
    elif row.model in MISSING_MODALITY_MODELS:
        if row.fill != OWN:
            raise ValueError(f"{row.model} encodes an image alone with its own encoder; found fill {row.fill!r}")
    else:
        raise ValueError(f"Table 3 compares MAE, MVAE and {list(MISSING_MODALITY_MODELS)}; found {row.model!r}")


def _sidecar(run_path: Path, encoding: str, evaluation: EvalConfig) -> Path:
    spec = json.dumps({"encoding": encoding, **asdict(evaluation)}, sort_keys=True)
    digest = hashlib.sha1(spec.encode()).hexdigest()[:8]
    return run_path.with_name(f"{run_path.stem}.table3-{encoding}-{digest}.json")


def score_run(dataset: str, model: str, split: int, preset: Preset, out_dir, fills: list[str | None],
              options: dict | None = None, encoding: str = "sample", evaluation: EvalConfig = EvalConfig(),
              device=None, data_root=None, progress: bool = False, threads: int | None = None) -> dict:
    """Table 3's scores of one model on one split, ``{fill: {metric: value}}`` (fill None: own
    encoder), from its saved run (trained first if it is not saved yet), kept beside it."""
    run = get_run(dataset, model, 3, split, preset, None, out_dir, device, data_root, progress, threads=threads,
                  options=options)
    path = _sidecar(run.path, encoding, evaluation)
    keys = [OWN if f is None else f for f in fills]
    try:
        saved = json.loads(path.read_text())
        if all(k in saved for k in keys):
            return {k: saved[k] for k in keys}
    except (OSError, ValueError):
        saved = {}  # not scored yet, or a damaged file: score again
    device = pick_device(device)
    with torch_threads(threads if device.type == "cpu" else None):
        scores = evaluate_missing(run.model(device), load_split(dataset, split, data_root), fills, encoding,
                                  K=evaluation.K, n_ll=evaluation.n_ll, samples=evaluation.samples)
    saved.update({OWN if f is None else f: v for f, v in scores.items()})
    _atomic_write(path, lambda f: f.write(json.dumps(saved, indent=1).encode()))
    return {k: saved[k] for k in keys}


def run_table3(rows=TABLE3_ROWS, dataset: str = "mnist-halves", splits: int | list[int] = 5,
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
    trained = run_table([Row(3, m, 3) for m in plain], dataset, splits, preset, None, out_dir, device,
                        encoding, data_root, progress, workers)
    # 2. score every run once; the scores are kept beside it
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
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    scores: dict[tuple, dict] = {}
    start = time.perf_counter()
    if workers <= 1 or len(jobs) <= 1:
        for key, kwargs in tqdm(jobs.items(), desc="table 3", disable=not progress, leave=False):
            scores[key] = score_run(**kwargs, progress=progress, threads=threads)
    else:
        pool = worker_pool.start(min(workers, len(jobs)))  # workers that stop with this process
        futures = {pool.submit(worker_pool.call, score_run, dict(kwargs, threads=threads)): key
                   for key, kwargs in jobs.items()}
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="table 3 scores",
                               disable=not progress, leave=False, dynamic_ncols=True):
                scores[futures[future]] = future.result()
        except KeyboardInterrupt:
            worker_pool.stop(pool)  # finished runs and scores stay saved
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
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
