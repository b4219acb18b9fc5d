"""Saved runs: one model trained on one view of one split, scored in every setting it serves.

The multimodal models are trained once and scored both with their tags (setting 3) and
with the tags missing (setting 4), with the same probe. Each finished run is written to
``out_dir`` at once (atomically) and found again by a key that hashes everything it
depends on, so rerunning a command, or a later book chapter, reuses it
(:mod:`mvae_lib.runcache` keeps the saved runs: keys, healing, claims, per-run scores).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import runcache
from .config import ModelConfig, Preset, get_preset
from .crossmodal import encode
from .datasets import Split, dataset_name, load_split
from .evaluate import fit_probe, score
from .models import LatentModel, Modality, VariationalModel, build_model, model_spec
from .runner import run_threads_on
from .settings import SETTINGS, Row, check_row, view_data
from .train import pick_device, train

RUNS_FORMAT = 2  # bump when a change alters what training computes: saved runs are keyed by it
ENCODINGS = ("sample", "mean")  # codes for the probe: z ~ q(z|.) (the paper's), or its mean


def run_spec(dataset: str, split: int, model: str, view: str, preset: Preset, options: dict | None = None,
             ) -> dict:
    """Everything a run depends on: what its key hashes, and what its record must agree with.

    ``options`` are the model's own settings (JMVAE-kl's ``alpha``, MMVAE's ``K``) when they
    differ from its defaults; without them the spec, and so every key saved before options
    existed, is unchanged; so is a model's whose declared ``version`` is 1. ``dataset`` is
    recorded by its name (an ``.npz`` file's content name).
    """
    spec = {"format": RUNS_FORMAT, "dataset": dataset_name(dataset), "split": split, "model": model,
            "view": view, "model_config": asdict(preset.model), "train_config": asdict(preset.train),
            "encodings": ENCODINGS}
    if options:
        spec["options"] = dict(sorted(options.items()))
    if model_spec(model).version != 1:
        spec["model_version"] = model_spec(model).version
    return spec


def run_key(dataset: str, split: int, model: str, view: str, preset: Preset, options: dict | None = None) -> str:
    """File stem for a run: readable prefix plus a hash of everything the run depends on."""
    return runcache.key_of(f"{model}-{view.replace('+', '_')}-split{split}",
                           run_spec(dataset, split, model, view, preset, options))


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
        """Scores per setting with sampled codes (the paper's protocol), as ``{3: {"lrap": ..., "map": ...}}``."""
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
        config = ModelConfig(**{**rec["model_config"], "hidden": tuple(rec["model_config"]["hidden"])})
        model = build_model(rec["model"], modalities, config, **rec.get("options", {}))
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
    variational = isinstance(model, VariationalModel)
    t_encode = t_probe = 0.0
    metrics, latents = {}, {}
    for encoding in ENCODINGS if variational else ENCODINGS[:1]:  # an autoencoder's code is its mean
        t = time.perf_counter()
        z_train = encode(model, train_in, encoding, seed=seed)
        # setting 4: the tags missing, seen through the "zeros" fill (the paper's) or the model's own q(z|x)
        z_test = {s.number: encode(model, test_in, encoding, seed=seed + 1, missing=s.missing_at_test)
                  for s in settings}
        t_encode += time.perf_counter() - t
        t = time.perf_counter()
        probe = fit_probe(z_train, split.y_train)  # one probe, reused by every setting of the run
        metrics[encoding] = {str(s): score(split.y_test, probe.decision_function(z)) for s, z in z_test.items()}
        t_probe += time.perf_counter() - t
        latents.update({f"z_test_s{s}_{encoding}": z for s, z in z_test.items()})
    if not variational:
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


def split_list(splits: int | list[int]) -> list[int]:
    """The splits a table asks for: ``n`` means splits 0 to n - 1; none is an error."""
    splits = list(range(splits)) if isinstance(splits, int) else list(splits)
    if not splits:
        raise ValueError("no splits asked for")
    return splits


def fills_by_model(rows, own: str) -> dict[tuple, list[str | None]]:
    """The fills each model of ``rows`` (Table 3's or 4's) is scored with, keyed by
    ``(model, options)``, in row order; None for the model's own posterior (a row whose
    fill is ``own``). Each model is trained and scored once for all its rows."""
    fills: dict[tuple, list[str | None]] = {}
    for row in rows:
        fills.setdefault((row.model, row.options), []).append(None if row.fill == own else row.fill)
    return fills


def run_path(dataset: str, model: str, setting: int, split: int, preset: Preset, out_dir,
             options: dict | None = None) -> Path:
    """Where the run serving ``model`` in ``setting`` is saved (a .json record beside a .npz)."""
    view = SETTINGS[setting].view
    key = run_key(dataset, split, model, view, preset, options)
    return Path(out_dir) / "runs" / dataset_name(dataset) / (key + ".json")


def find_run(dataset: str, model: str, setting: int, split: int = 0, *, preset: str | Preset = "small",
             epochs: int | None = None, out_dir="mvae_runs", options: dict | None = None, **_) -> Run | None:
    """The saved run for these arguments (as :func:`get_run` takes them), or None.

    A run whose files are damaged counts as not saved (:func:`get_run` moves it aside).
    """
    preset = resolve_preset(preset, epochs)
    options = model_options(model, options)
    path = run_path(dataset, model, setting, split, preset, out_dir, options)
    spec = run_spec(dataset, split, model, SETTINGS[setting].view, preset, options)
    record = runcache.load(path, spec, RECORD_FIELDS)
    return None if record is None else Run(record, path)


def get_run(dataset: str, model: str, setting: int, split: int = 0, *, preset: str | Preset = "small",
            epochs: int | None = None, out_dir: str | os.PathLike = "mvae_runs", device=None,
            data_root=None, progress: bool = True, data: Split | None = None, wait: bool = True,
            options: dict | None = None) -> Run | None:
    """The saved run serving ``model`` in ``setting`` on one split; trains it if not saved yet.

    The run's identity comes first (data set, model, setting, split); every other argument is
    given by keyword. ``data`` is the split already loaded; by default it is loaded from
    ``dataset`` when the run must be trained. On the CPU the run trains on
    :func:`mvae_lib.runner.run_threads` threads, so its numbers depend on its key alone. If
    another process is training this run, waits for it and loads it; with ``wait=False``
    returns None instead. A damaged saved run is moved aside with a warning and trained again
    (see :mod:`mvae_lib.runcache`). ``options`` are the model's own settings (e.g.
    ``{"alpha": 1.0}`` for JMVAE-kl; see :func:`mvae_lib.models.build_model`).
    """
    check_row(Row(0, model, setting))
    preset = resolve_preset(preset, epochs)
    options = model_options(model, options)
    path = run_path(dataset, model, setting, split, preset, out_dir, options)
    view = SETTINGS[setting].view
    trained = []

    def make():
        split_data = load_split(dataset, split, data_root) if data is None else data
        dev = pick_device(device)
        with run_threads_on(preset, dev):
            record, latents, weights = train_and_evaluate(split_data, model, view, preset, dev, progress, options)
        record["device"] = str(dev)
        trained.append(path)
        return record, latents, weights

    record = runcache.obtain(path, run_spec(dataset, split, model, view, preset, options), make, RECORD_FIELDS,
                             wait)
    return None if record is None else Run(record, path, trained_now=bool(trained))


def model_options(model: str, options: dict | None) -> dict | None:
    """``options`` checked against the model's declared options; None when there are none
    (so that a run without options keeps the key it had before options existed)."""
    return model_spec(model).check_options(options) or None
