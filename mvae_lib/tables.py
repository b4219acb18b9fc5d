"""Tables 1 and 2 (and any grid of models × settings × splits): train or load every run, tidy the scores.

Each model is trained once per split and view (settings 3 and 4 share a run); runs already
saved in ``out_dir`` are loaded, the others trained through the runner
(:func:`mvae_lib.runner.run_jobs`), in parallel worker processes when there are several.
"""
from __future__ import annotations

from .config import Preset
from .datasets import check_available
from .models import model_spec
from .results import Results
from .runner import default_workers, parse_devices, run_jobs
from .runs import Run, find_run, get_run, resolve_preset, split_list
from .settings import SETTINGS, TABLE_ROWS, Row, check_row


def train_runs(jobs: dict, *, workers: int, devices, progress: bool = True, desc: str = "runs") -> dict:
    """Train (or wait for) the runs of ``jobs`` (``key: get_run keyword arguments``) through the
    runner; ``{key: Run}``. A run another process is training is waited for, last."""
    imports = tuple(sorted({model_spec(kw["model"]).cls.__module__ for kw in jobs.values()}))
    return dict(run_jobs(get_run, {key: dict(kw, progress=progress and workers <= 1, wait=False)
                                   for key, kw in jobs.items()},
                         workers=workers, devices=devices, progress=progress, desc=desc,
                         again=lambda kw: dict(kw, wait=True), imports=imports))


def run_table(rows=TABLE_ROWS, dataset: str = "mnist-halves", splits: int | list[int] = 5, *,
              preset: str | Preset = "small", epochs: int | None = None, out_dir="mvae_runs",
              device=None, encoding: str = "sample", data_root=None, progress: bool = True,
              workers: int | None = None) -> Results:
    """Run (or load) every row on every split; return tidy results for codes ``encoding``.

    ``workers`` processes train at a time (default: :func:`mvae_lib.runner.default_workers`);
    ``device`` may name several devices (``"cuda:0,cuda:1"``): one worker process trains on
    each. Runs that another process is training into the same ``out_dir`` are waited for
    and loaded, last.
    """
    splits = split_list(splits)
    for row in rows:
        check_row(row)
    devices = parse_devices(device)
    preset = resolve_preset(preset, epochs)  # epochs now live in the preset
    workers = default_workers(devices, preset) if workers is None else workers
    if len(devices) > 1 and workers != len(devices):
        raise ValueError(f"one worker per device: {len(devices)} devices, found workers={workers}")
    runs: dict[tuple, Run] = {}  # (split, model, view) -> run; one per trained model
    todo = {}
    for k in splits:
        for row in rows:
            key = (k, row.model, SETTINGS[row.setting].view)
            if key in runs or key in todo:
                continue
            job = dict(dataset=dataset, model=row.model, setting=row.setting, split=k, preset=preset,
                       out_dir=out_dir, device=devices[0], data_root=data_root)
            saved = find_run(**job)
            if saved is not None:
                runs[key] = saved
            else:
                todo[key] = job
    if todo:
        check_available(dataset, splits, data_root)
    runs.update(train_runs(todo, workers=workers, devices=devices, progress=progress))
    timing = {"train": 0.0, "encode": 0.0, "probe": 0.0}
    trained = [run for run in runs.values() if run.trained_now]
    for run in trained:
        for phase, s in run.record["timing_s"].items():
            timing[phase] += s
    tidy = []
    for k in splits:
        for row in rows:
            scores = runs[(k, row.model, SETTINGS[row.setting].view)].metrics_for(encoding)[row.setting]
            tidy += [{"dataset": dataset, "table": row.table, "model": row.model, "setting": row.setting,
                      "split": k, "metric": metric, "value": value} for metric, value in scores.items()]
    return Results(tidy, dataset, timing, encoding, tuple(run.path.stem for run in trained))


__all__ = ["run_table", "train_runs", "Row", "TABLE_ROWS"]
