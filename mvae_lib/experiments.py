"""The experiments as data: settings 1-4, the rows of Tables 1 and 2, saved runs.

A *run* trains one model on one input view of one split and evaluates it in every
setting it serves: the multimodal models are trained once and scored both with their
tags (setting 3) and with the tags zeroed (setting 4), with the same probe. Each finished
run is written to ``out_dir`` at once (atomically) and found again by a key that hashes
everything it depends on, so rerunning a command, or a later book chapter, reuses it
(:mod:`mvae_lib.runcache` keeps the saved runs: keys, healing, claims).

The grid (:func:`run_table`) trains the missing runs in worker processes: one per CPU core
for small models, one per device when several are named (``"cuda:0,cuda:1"``). The workers
(:mod:`mvae_lib.workers`) stop with their parent however it ends (Ctrl-C, SIGTERM, SIGKILL),
releasing the runs they hold; finished runs stay saved.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_futures
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import runcache
from . import workers as worker_processes
from .config import ModelConfig, Preset, get_preset
from .datasets import Split, check_available, dataset_name, load_split
from .evaluate import encode, fit_probe, score
from .models import LatentModel, Modality, build_model
from .paper import paper_value
from .train import pick_device, train

RUNS_FORMAT = 2  # bump when a change alters what training computes: saved runs are keyed by it
ENCODINGS = ("sample", "mean")  # codes for the probe: z ~ q(z|.) (the paper's), or its mean


@dataclass(frozen=True)
class Setting:
    """How a model sees the data (paper section 4.2)."""

    number: int
    view: str  # "x": image only; "xw": x and w concatenated; "x+w": two modalities
    zero_at_test: tuple[str, ...]
    description: str
    short: str  # for table cells


SETTINGS = {
    1: Setting(1, "x", (), "image only, train and test", "image only"),
    2: Setting(2, "xw", (), "image and tags concatenated into one input (Gaussian decoder)",
               "image + tags, one vector"),
    3: Setting(3, "x+w", (), "image and tags as two modalities, train and test", "image and tags"),
    4: Setting(4, "x+w", ("w",), "trained on both; tested with the tags set to zero", "tags zeroed at test"),
}


@dataclass(frozen=True)
class Row:
    """One cell row of the paper's tables: a model in a setting."""

    table: int
    model: str
    setting: int


TABLE_ROWS = (
    Row(1, "AE", 1), Row(1, "AE", 2), Row(1, "VAE", 1), Row(1, "VAE", 2),
    Row(2, "MAE", 3), Row(2, "MAE", 4), Row(2, "MVAE", 3), Row(2, "MVAE", 4),
)
MULTIMODAL = ("MAE", "MVAE", "JMVAE-kl", "PoE", "MMVAE", "MoPoE")


def check_row(row: Row) -> None:
    if row.setting not in SETTINGS:
        raise ValueError(f"setting must be 1-4; found {row.setting}")
    multimodal_setting = SETTINGS[row.setting].view == "x+w"
    if (row.model in MULTIMODAL) != multimodal_setting:
        raise ValueError(
            f"{row.model} does not run in setting {row.setting}: AE and VAE take settings 1-2, "
            f"{', '.join(MULTIMODAL)} settings 3-4"
        )


def view_data(split: Split, view: str) -> tuple[list[Modality], dict, dict]:
    """Modalities and train / test inputs of ``split`` as a model of ``view`` reads them."""
    x, w = split.modalities
    if view == "x":
        return [x], {"x": split.train["x"]}, {"x": split.test["x"]}
    if view == "xw":  # one vector, one Gaussian decoder; standardised x beside binary w
        joined = Modality("xw", x.dim + w.dim, "gaussian")
        cat = lambda d: {"xw": np.concatenate([d["x"], d["w"]], axis=1)}  # (n, Dx + Dw)
        return [joined], cat(split.train), cat(split.test)
    if view == "x+w":
        return [x, w], dict(split.train), dict(split.test)
    raise ValueError(f"unknown view {view!r}")


def run_spec(dataset: str, split: int, model: str, view: str, preset: Preset, options: dict | None = None,
             ) -> dict:
    """Everything a run depends on: what its key hashes, and what its record must agree with.

    ``options`` are the model's own settings (JMVAE-kl's ``alpha``, MMVAE's ``K``) when they
    differ from its defaults; without them the spec, and so every key saved before options
    existed, is unchanged. ``dataset`` is recorded by its name (an ``.npz`` file's content name).
    """
    spec = {"format": RUNS_FORMAT, "dataset": dataset_name(dataset), "split": split, "model": model,
            "view": view, "model_config": asdict(preset.model), "train_config": asdict(preset.train),
            "encodings": ENCODINGS}
    if options:
        spec["options"] = dict(sorted(options.items()))
    return spec


def run_key(dataset: str, split: int, model: str, view: str, preset: Preset, options: dict | None = None) -> str:
    """File stem for a run: readable prefix plus a hash of everything the run depends on."""
    return runcache.key_of(f"{model}-{view.replace('+', '_')}-split{split}",
                           run_spec(dataset, split, model, view, preset, options))


_atomic_write = runcache.atomic_write  # the tables are written the same way as the runs
RECORD_FIELDS = ("model", "modalities", "model_config", "history", "metrics", "timing_s")  # what Run reads


@dataclass
class Run:
    """A finished run: its record (configs, history, metrics, timings), test latents and weights.

    On disk: ``<key>.json`` (the record, written last: its presence marks the run done),
    ``<key>.npz`` (test-set codes per setting) and ``<key>.pt`` (the model's state dict).
    """

    record: dict
    path: Path
    trained_now: bool = False  # trained by this call, not loaded

    @property
    def history(self) -> list[dict]:
        return self.record["history"]

    @property
    def metrics(self) -> dict[int, dict[str, float]]:
        """Scores per setting with sampled codes, the paper's protocol: ``{3: {"lrap": ..., "map": ...}}``."""
        return self.metrics_for("sample")

    def metrics_for(self, encoding: str) -> dict[int, dict[str, float]]:
        """Scores per setting with codes ``encoding`` (``"sample"`` or ``"mean"``)."""
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, found {encoding!r}")
        return {int(s): m for s, m in self.record["metrics"][encoding].items()}

    def model(self, device="cpu") -> LatentModel:
        """The trained model, rebuilt from the record and its saved weights (in eval mode)."""
        rec = self.record
        modalities = [Modality(*m) for m in rec["modalities"]]
        model = build_model(rec["model"], modalities, ModelConfig(**{**rec["model_config"],
                                                                    "hidden": tuple(rec["model_config"]["hidden"])}),
                            **rec.get("options", {}))
        with runcache.reading(self.path.with_suffix(".pt")):
            state = torch.load(self.path.with_suffix(".pt"), map_location=device, weights_only=True)
            model.load_state_dict(state)
        return model.to(device).eval()

    def latents(self) -> dict[str, np.ndarray]:
        """Test-set codes per setting and encoding (``"z_test_s3_sample"``, ``"z_test_s3_mean"``...)
        and the test labels ``"y_test"``."""
        with runcache.reading(self.path.with_suffix(".npz")), np.load(self.path.with_suffix(".npz")) as f:
            return dict(f)


def train_and_evaluate(split: Split, model_kind: str, view: str, preset: Preset, device=None,
                       progress: bool = True, options: dict | None = None) -> tuple[dict, dict, dict]:
    """Train ``model_kind`` on ``view`` of ``split`` and score it in every setting of that view.

    Both encodings are scored (sampled codes, the paper's protocol, and posterior means),
    each with its own probe, so that switching the encoding never retrains a model.
    Returns the record (configs, history, metrics, timings), the test-set latents, and
    the trained weights.
    """
    modalities, train_in, test_in = view_data(split, view)
    torch.manual_seed(preset.train.seed)  # the initial weights come from the seed too
    model = build_model(model_kind, modalities, preset.model, **(options or {}))
    t0 = time.perf_counter()
    history = train(model, train_in, preset.train, device=device, progress=progress,
                    desc=f"{model_kind} {view} split {split.index}")
    t1 = time.perf_counter()
    seed = preset.train.seed + 1  # the sampling noise at test time is seeded too
    settings = [s for s in SETTINGS.values() if s.view == view]
    t_encode = t_probe = 0.0
    metrics, latents = {}, {}
    for encoding in ENCODINGS if model.variational else ENCODINGS[:1]:  # an AE's code is its mean
        t = time.perf_counter()
        z_train = encode(model, train_in, encoding, seed=seed)
        z_test = {s.number: encode(model, test_in, encoding, seed=seed + 1, zero=s.zero_at_test)
                  for s in settings}
        t_encode += time.perf_counter() - t
        t = time.perf_counter()
        probe = fit_probe(z_train, split.y_train)  # one probe, reused by every setting of the run
        metrics[encoding] = {str(s): score(split.y_test, probe.decision_function(z)) for s, z in z_test.items()}
        t_probe += time.perf_counter() - t
        latents.update({f"z_test_s{s}_{encoding}": z for s, z in z_test.items()})
    if not model.variational:
        metrics["mean"] = metrics["sample"]
        latents.update({k.replace("_sample", "_mean"): v for k, v in list(latents.items())})
    record = {
        "dataset": split.name, "split": split.index, "model": model_kind, "view": view,
        "preset": preset.name, "model_config": asdict(preset.model), "train_config": asdict(preset.train),
        "modalities": [[m.name, m.dim, m.likelihood] for m in modalities],
        "n_params": sum(p.numel() for p in model.parameters()),
        "history": history, "metrics": metrics,
        "timing_s": {"train": t1 - t0, "encode": t_encode, "probe": t_probe},
    }
    if options:
        record["options"] = dict(sorted(options.items()))
    latents["y_test"] = split.y_test
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return record, latents, weights


def resolve_preset(preset: str | Preset, epochs: int | None = None) -> Preset:
    """A preset given by name or object, with its epoch count replaced when ``epochs`` is given."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    return preset if epochs is None else preset.with_epochs(epochs)


def run_path(dataset: str, model: str, setting: int, split: int, preset: Preset, out_dir,
             options: dict | None = None) -> Path:
    """Where the run serving ``model`` in ``setting`` is saved (a .json record beside a .npz)."""
    view = SETTINGS[setting].view
    key = run_key(dataset, split, model, view, preset, options)
    return Path(out_dir) / "runs" / dataset_name(dataset) / (key + ".json")


def find_run(dataset: str, model: str, setting: int, split: int = 0, preset: str | Preset = "small",
             epochs: int | None = None, out_dir="mvae_runs", options: dict | None = None, **_) -> Run | None:
    """The saved run for these arguments (as :func:`get_run` takes them), or None.

    A run whose files are damaged counts as not saved (:func:`get_run` moves it aside).
    """
    preset = resolve_preset(preset, epochs)
    path = run_path(dataset, model, setting, split, preset, out_dir, options)
    spec = run_spec(dataset, split, model, SETTINGS[setting].view, preset, options)
    record = runcache.load(path, spec, RECORD_FIELDS)
    return None if record is None else Run(record, path)


def get_run(dataset: str, model: str, setting: int, split: int = 0, preset: str | Preset = "small",
            epochs: int | None = None, out_dir: str | os.PathLike = "mvae_runs", device=None,
            data_root=None, progress: bool = True,
            data: Split | None = None, threads: int | None = None, wait: bool = True,
            options: dict | None = None) -> Run | None:
    """The saved run serving ``model`` in ``setting`` on one split; trains it if not saved yet.

    ``data`` is the split already loaded; by default it is loaded from ``dataset`` when
    the run must be trained. ``threads`` sets the CPU threads used for training (default:
    torch's current setting). If another process is training this run, waits for it and
    loads it; with ``wait=False`` returns None instead. A damaged saved run is moved aside
    with a warning and trained again (see :mod:`mvae_lib.runcache`). ``options`` are the
    model's own settings (e.g. ``{"alpha": 1.0}`` for JMVAE-kl; see :func:`build_model`).
    """
    check_row(Row(0, model, setting))
    preset = resolve_preset(preset, epochs)
    path = run_path(dataset, model, setting, split, preset, out_dir, options)
    view = SETTINGS[setting].view
    trained = []

    def make():
        split_data = load_split(dataset, split, data_root) if data is None else data
        dev = pick_device(device)
        with torch_threads(threads if dev.type == "cpu" else None):
            record, latents, weights = train_and_evaluate(split_data, model, view, preset, dev, progress, options)
        record["device"] = str(dev)
        trained.append(path)
        return record, latents, weights

    record = runcache.obtain(path, run_spec(dataset, split, model, view, preset, options), make, RECORD_FIELDS,
                             wait)
    return None if record is None else Run(record, path, trained_now=bool(trained))


@dataclass
class Results:
    """Tidy results: one dict per (model, setting, split, metric) with its value."""

    rows: list[dict]
    dataset: str
    timing_s: dict[str, float]
    encoding: str = "sample"
    trained: tuple[str, ...] = ()  # file stems of the runs trained by this call (the others were loaded)

    def summary(self) -> list[dict]:
        """Mean and sample std over splits per (table, model, setting, metric), with the paper's value."""
        groups: dict[tuple, list[float]] = {}
        for r in self.rows:
            groups.setdefault((r["table"], r["model"], r["setting"], r["metric"]), []).append(r["value"])
        return [
            {"table": t, "model": m, "setting": s, "metric": k, "mean": statistics.fmean(v),
             "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n_splits": len(v),
             "paper": paper_value(m, s, k)}
            for (t, m, s, k), v in groups.items()
        ]

    def cell(self, model: str, setting: int, metric: str = "lrap") -> dict:
        """The summary entry for one table cell."""
        for r in self.summary():
            if (r["model"], r["setting"], r["metric"]) == (model, setting, metric):
                return r
        raise KeyError(f"no result for {model} in setting {setting} ({metric})")

    def to_json(self, path) -> None:
        blob = {"dataset": self.dataset, "encoding": self.encoding, "rows": self.rows,
                "summary": self.summary(), "timing_s": self.timing_s}
        _atomic_write(Path(path), lambda f: f.write(json.dumps(blob, indent=1).encode()))

    def to_csv(self, path) -> None:
        cols = ["dataset", "table", "model", "setting", "split", "metric", "value"]
        lines = [",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in self.rows]
        _atomic_write(Path(path), lambda f: f.write(("\n".join(lines) + "\n").encode()))


def parse_devices(device) -> list[str]:
    """The devices of ``device``: one name, a comma-separated list (``"cuda:0,cuda:1"``) or a list.

    Each name is checked as :func:`mvae_lib.train.pick_device` checks it.
    """
    names = device.split(",") if isinstance(device, str) else [device] if device is None else list(device)
    names = [None if n is None else str(n).strip() for n in names]
    if any(n == "" for n in names):
        raise ValueError(f"expected device names separated by commas, e.g. cuda:0,cuda:1; found {device!r}")
    for n in names:
        pick_device(n)
    return names


def default_workers(device, preset: Preset) -> int:
    """Parallel training processes: one per CPU core for small models, else one.

    A small model's training step is dominated by per-operation overhead that more
    threads do not shorten, so on the CPU the runs are spread over the cores, each
    single-threaded: two processes on two cores train two models in the time of one. The
    paper's widths are matmul-bound and use all threads in one process (and the MIR
    Flickr release is read once); a GPU takes one run at a time. Several devices
    (``"cuda:0,cuda:1"``) get one process each.
    """
    devices = parse_devices(device)
    if len(devices) > 1:
        return len(devices)
    if pick_device(devices[0]).type == "cuda" or preset.model.latent > 256:
        return 1
    return max(1, os.cpu_count() or 1)


@contextmanager
def torch_threads(threads: int | None):
    """Train on ``threads`` CPU threads (None: leave the setting), restoring it afterwards."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_table(rows=TABLE_ROWS, dataset: str = "mnist-halves", splits: int | list[int] = 5,
              preset: str | Preset = "small", epochs: int | None = None, out_dir="mvae_runs",
              device=None, encoding: str = "sample", data_root=None, progress: bool = True,
              workers: int | None = None) -> Results:
    """Run (or load) every row on every split; return tidy results for codes ``encoding``.

    Each model is trained once per split and view (settings 3 and 4 share a run); runs
    already saved in ``out_dir`` are loaded, the others trained, ``workers`` at a time
    in separate processes (default: :func:`default_workers`). ``device`` may name several
    devices (``"cuda:0,cuda:1"``): one worker process trains on each. Runs that another
    process is training into the same ``out_dir`` are waited for and loaded, last.
    """
    splits = list(range(splits)) if isinstance(splits, int) else list(splits)
    if not splits:
        raise ValueError("no splits asked for")
    for row in rows:
        check_row(row)
    devices = parse_devices(device)
    preset = resolve_preset(preset, epochs)  # epochs now live in the preset
    workers = default_workers(devices, preset) if workers is None else workers
    if len(devices) > 1 and workers != len(devices):
        raise ValueError(f"one worker per device: {len(devices)} devices, found workers={workers}")
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    timing = {"train": 0.0, "encode": 0.0, "probe": 0.0}

    def job(k: int, row: Row) -> dict:
        return dict(dataset=dataset, model=row.model, setting=row.setting, split=k, preset=preset,
                    out_dir=out_dir, device=devices[0], data_root=data_root)

    runs: dict[tuple, Run] = {}  # (split, model, view) -> run; one per trained model
    todo = {}
    for k in splits:
        for row in rows:
            key = (k, row.model, SETTINGS[row.setting].view)
            if key not in runs and key not in todo:
                saved = find_run(**job(k, row))
                if saved is not None:
                    runs[key] = saved
                else:
                    todo[key] = job(k, row)
    if todo:
        check_available(dataset, splits, data_root)
    trained = []
    with closing(_train_all(todo, workers, progress, threads, devices)) as finished:
        for key, run in finished:
            runs[key] = run
            if run.trained_now:
                trained.append(run.path.stem)
                for phase, s in run.record["timing_s"].items():
                    timing[phase] += s
    tidy = []
    for k in splits:
        for row in rows:
            scores = runs[(k, row.model, SETTINGS[row.setting].view)].metrics_for(encoding)[row.setting]
            tidy += [{"dataset": dataset, "table": row.table, "model": row.model, "setting": row.setting,
                      "split": k, "metric": metric, "value": value} for metric, value in scores.items()]
    return Results(tidy, dataset, timing, encoding, tuple(trained))


def _train_all(todo: dict[tuple, dict], workers: int, progress: bool, threads: int, devices=(None,)):
    """Train the missing runs, ``threads`` CPU threads each, yielding ``(key, run)`` as each
    finishes (and is saved). A run claimed by another process is put off until the
    others are done, then waited for."""
    if workers <= 1 or len(todo) <= 1:
        loaded: dict[int, Split] = {}
        later = []
        for wait in (False, True):
            for key, kwargs in (todo.items() if not wait else later):
                k = kwargs["split"]
                if k not in loaded:
                    loaded[k] = load_split(kwargs["dataset"], k, kwargs["data_root"])
                run = get_run(**kwargs, progress=progress, data=loaded[k], threads=threads, wait=wait)
                if run is None:
                    later.append((key, kwargs))
                else:
                    yield key, run
        return
    workers = min(workers, len(todo))
    pool = worker_processes.start(workers, devices[:workers] if len(devices) > 1 else None)
    submit = lambda kwargs, wait: pool.submit(worker_processes.call, get_run,
                                              dict(kwargs, progress=False, threads=threads, wait=wait))
    futures = {submit(kwargs, False): (key, kwargs) for key, kwargs in todo.items()}
    bar = tqdm(total=len(todo), desc="runs", disable=not progress, leave=False, dynamic_ncols=True)
    try:
        while futures:
            done, _ = wait_futures(futures, return_when=FIRST_COMPLETED)
            for future in done:
                key, kwargs = futures.pop(future)
                run = future.result()
                if run is None:  # another process is training it: wait for it once the rest is done
                    futures[submit(kwargs, True)] = (key, kwargs)
                else:
                    bar.update()
                    yield key, run
    except (KeyboardInterrupt, GeneratorExit):
        worker_processes.stop(pool)  # each releases the run it holds and exits; finished runs stay saved
        raise
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)  # after an error: the runs in progress finish, saved
