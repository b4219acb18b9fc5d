"""Command line: ``python -m mvae_lib reproduce`` prints Tables 1 and 2 beside the paper's;
``python -m mvae_lib run`` trains one run of that grid (one job of a cluster's array)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .config import PRESETS, ModelConfig, Preset, TrainConfig
from .datasets import DATASETS, MIRFLICKR_ENV, DataError, check_available, get_dataset
from .models import MODEL_SPECS, model_names
from .runcache import DiskFull
from .runs import get_run
from .settings import TABLE_ROWS, Row, check_row
from .tables import run_table
from .present.tables import format_table3, format_tables
from .table3 import TABLE3_ROWS, run_table3
from .table4 import DATASET as TABLE4_DATASET, TABLE4_EPOCHS, TABLE4_ROWS, run_table4
from .present.table4 import format_table4
from .train import TrainingDiverged


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not a usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def _preset(text: str) -> Preset:
    """A preset by name, or read from a JSON file with the fields of ModelConfig and TrainConfig."""
    if text in PRESETS:
        return PRESETS[text]
    if not text.endswith(".json"):
        raise argparse.ArgumentTypeError(f"expected one of {sorted(PRESETS)} or a .json file, found {text!r}")
    try:
        spec = json.loads(Path(text).read_text())
        model = ModelConfig(**{**spec.get("model", {}), "hidden": tuple(spec.get("model", {}).get(
            "hidden", ModelConfig.hidden))})
        return Preset(str(spec["name"]), model, TrainConfig(**spec.get("train", {})), f"from {text}")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise argparse.ArgumentTypeError(
            f"{text}: expected a JSON object with a name and model / train fields of ModelConfig / "
            f"TrainConfig; {type(err).__name__}: {err}") from None


def _dataset(text: str) -> str:
    """A registered data set's name, or the path of an .npz file of your own data (read and checked now)."""
    if text in DATASETS or text.endswith(".npz"):
        try:
            get_dataset(text)
        except DataError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return text
    raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(sorted(DATASETS))}, "
                                     "or the path of an .npz file of your own data)")


def _default_preset(args) -> Preset:
    return args.preset or PRESETS[get_dataset(args.dataset).preset]


def _common_options(p: argparse.ArgumentParser, devices: str) -> None:
    """The options ``reproduce`` and ``run`` share: which data, which sizes, where."""
    p.add_argument("--dataset", type=_dataset, default="mnist-halves", metavar="NAME|FILE.npz",
                   help=". ".join(f"{name}: {spec.description}" for name, spec in DATASETS.items())
                   + ". Or FILE.npz: your own paired arrays x, w and labels y (mvae_lib.save_npz writes one; "
                     "see the README, 'Your own data')")
    p.add_argument("--data-root", metavar="DIR",
                   help=f"folder of the unpacked MIR Flickr release (default: ${MIRFLICKR_ENV})")
    p.add_argument("--epochs", type=_positive, metavar="N",
                   help="training epochs (default: the preset's)")
    p.add_argument("--preset", type=_preset, default=None, metavar="NAME|FILE.json",
                   help="network sizes and training settings: " + "; ".join(
                       f"{p.name}: {p.description}" for p in PRESETS.values())
                   + " (default: the data set's, " + ", ".join(
                       f"{spec.preset} for {name}" for name, spec in DATASETS.items())
                   + ", small for a file); or a JSON file "
                     '{"name": ..., "model": {ModelConfig fields}, "train": {TrainConfig fields}}')
    p.add_argument("--device", default="auto", help=devices)
    p.add_argument("--out", default="mvae_runs", metavar="DIR",
                   help="the runs folder: finished runs are saved in DIR/runs/ and reused by any "
                        "later command given the same DIR (default: mvae_runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mvae_lib",
                     description="The multimodal VAE of Suzuki & Matsuo (JSAI 2016) and its baselines. "
                                 "'reproduce' trains the whole grid and prints Tables 1 and 2; 'run' "
                                 "trains one run of that grid (for a cluster's job array).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rep = sub.add_parser(
        "reproduce", help="train every setting on every split and print Tables 1 and 2",
        description="Train AE and VAE (settings 1-2) and MAE and MVAE (settings 3-4) on each "
                    "split, score a logistic-regression probe on the codes, and print the paper's "
                    "LRAP beside this run's mean +- std over splits, writing the tables as JSON and "
                    "CSV in --out. Each run is saved in --out as soon as it finishes and reused "
                    "by any later command, so a stopped command (Ctrl-C, SIGTERM, SIGHUP) resumes "
                    "where it stopped when run again, and runs trained elsewhere (by 'run', on "
                    "other machines sharing the folder) are only loaded. A damaged saved run is "
                    "moved to a quarantine/ folder with a warning and trained again. Several "
                    "commands may share one --out: a run being trained by one is waited for, not "
                    "trained twice.",
        epilog="Examples: python -m mvae_lib reproduce;  python -m mvae_lib reproduce --dataset "
               "mirflickr --data-root DIR --device cuda:0,cuda:1")
    _common_options(rep, "cpu, cuda, cuda:N or auto (default: CUDA when available); or several "
                         "devices separated by commas, e.g. cuda:0,cuda:1, to train one run on "
                         "each at a time")
    rep.add_argument("--splits", type=_positive, default=None, metavar="N",
                     help="use splits 0..N-1 (default: all the data set's splits; 5 for the built-in ones, "
                          "the paper's count)")
    rep.add_argument("--table", choices=TABLE_CHOICES, default="1,2", metavar="|".join(TABLE_CHOICES),
                     help="which tables: 1 and 2 (default: '1,2'), one of them, 3 (the image without its "
                          "tags: the MAE and MVAE with fill strategies beside JMVAE-kl, PoE, MMVAE, "
                          "MoPoE and MMVAE+; scored once per run and kept beside it), 4 (four modalities: "
                          f"the quadrants of the bundled digits, {TABLE4_DATASET}, whatever --dataset; "
                          f"preset small at {TABLE4_EPOCHS} epochs unless --preset or --epochs; the "
                          "models scored with 1-4 quadrants observed, and a conditional VAE per "
                          "configuration of Sohn et al. 2015), or all")
    rep.add_argument("--encode", choices=["sample", "mean"], default="sample",
                     help="codes for the probe: z sampled from q(z|.) as in the paper (default), or its mean")
    models = "; ".join(f"{name} ({spec.description}) in settings {'/'.join(map(str, spec.settings))}"
                       for name, spec in MODEL_SPECS.items())
    one = sub.add_parser(
        "run", help="train and save one run of the grid (one model, one setting, one split)",
        description="Train one model on one split, score it, and save it in --out/runs/, exactly "
                    "as 'reproduce' would (if it is saved already, only say where). Settings 3 and "
                    "4 share one run. Meant for spreading the grid over a cluster: one job per "
                    "run, all writing to one shared --out; 'reproduce' with the same options and "
                    "--out then only loads them and prints the tables. See the README, \"Running "
                    "the paper's full experiment\".",
        epilog=f"Models: {models}. Example: python -m mvae_lib run "
               "--dataset mirflickr --data-root DIR --model MVAE --setting 3 --split 2 --out DIR")
    one.add_argument("--model", required=True, help=f"the model ({models})")
    one.add_argument("--setting", type=_positive, required=True, metavar="S",
                     help="the setting 1-4 (paper section 4.2): 1 image only, 2 image and tags as one "
                          "vector, 3 image and tags as two modalities, 4 as 3 with the tags zeroed at test")
    one.add_argument("--split", type=int, required=True, metavar="K", help="the split, 0-4")
    _common_options(one, "cpu, cuda, cuda:N or auto (default: CUDA when available)")
    return parser


TABLE_CHOICES = ["1,2", "1", "2", "3", "4", "all"]


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled as Ctrl-C is: stop, keep the finished runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _stop_on_signals():
    """Raise :class:`Stopped` on SIGTERM and SIGHUP (e.g. ``kill``, a closed terminal) while inside."""
    def handler(signum, frame):
        raise Stopped(signum)

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        wanted = []
    before = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def _failed(err: BaseException, out: Path) -> int:
    """Say why a command stopped, and what is kept; the exit status."""
    kept = out / "runs"
    if isinstance(err, KeyboardInterrupt):
        how = f"stopped by {err.args[0]}" if isinstance(err, Stopped) else "interrupted"
        print(how + (f" (finished runs are kept in {kept}; rerunning the command resumes)" if kept.exists()
                     else ""), file=sys.stderr)
        return 128 + err.signum if isinstance(err, Stopped) else 130
    print(f"error: {err}", file=sys.stderr)
    if kept.exists() and not isinstance(err, DiskFull):  # DiskFull says so itself, in its one line
        print(f"(finished runs are kept in {kept})", file=sys.stderr)
    return 1


def reproduce(args) -> int:
    preset, spec = _default_preset(args), get_dataset(args.dataset)
    args.splits = args.splits or spec.splits
    if args.splits > spec.splits:
        print(f"error: {args.dataset} has {spec.splits} splits; found --splits {args.splits}", file=sys.stderr)
        return 2
    out = Path(args.out)
    start = time.perf_counter()
    tables = {"1,2": (1, 2), "all": (1, 2, 3, 4), "1": (1,), "2": (2,), "3": (3,), "4": (4,)}[args.table]
    rows = [r for r in TABLE_ROWS if r.table in tables]
    outputs = []
    try:
        with _stop_on_signals():
            if rows:
                results = run_table(rows, args.dataset, args.splits, preset=preset, epochs=args.epochs,
                                    out_dir=out, device=args.device, encoding=args.encode,
                                    data_root=args.data_root, progress=not args.quiet)
                outputs.append(("tables", format_tables(results, [t for t in tables if t in (1, 2)]), results))
            if 3 in tables:
                t3 = time.perf_counter()
                results = run_table3(TABLE3_ROWS, args.dataset, args.splits, preset=preset, epochs=args.epochs,
                                     out_dir=out, device=args.device, encoding=args.encode,
                                     data_root=args.data_root, progress=not args.quiet)
                outputs.append(("table3", format_table3(results), results))
                table3_wall = time.perf_counter() - t3
            if 4 in tables:
                quadrants = get_dataset(TABLE4_DATASET)
                t4_preset = args.preset or PRESETS["small"]
                t4_epochs = args.epochs or (None if args.preset else TABLE4_EPOCHS)  # a given preset's own
                results = run_table4(TABLE4_ROWS, TABLE4_DATASET, min(args.splits, quadrants.splits),
                                     preset=t4_preset, epochs=t4_epochs, out_dir=out,
                                     device=args.device, progress=not args.quiet)
                outputs.append(("table4", format_table4(results), results))
    except (DataError, ValueError, OSError, TrainingDiverged, KeyboardInterrupt) as err:
        return _failed(err, out)
    wall = time.perf_counter() - start
    for name, text, results in outputs:
        print(text)
        if name == "table4":
            stem = out / f"table4-{TABLE4_DATASET}-{(args.preset or PRESETS['small']).name}"
            results.to_json(stem.with_suffix(".json"))
            results.to_csv(stem.with_suffix(".csv"))
            print(f"\nTable 4: {results.timing_s['wall']:.1f} s wall; training summed over the runs: "
                  f"{results.timing_s['train']:.1f} s (saved runs count the time they took when trained)")
            print(f"wrote {stem}.json and {stem}.csv")
            continue
        stem = out / f"{name}-{spec.name}-{preset.name}-{args.encode}"
        results.to_json(stem.with_suffix(".json"))
        results.to_csv(stem.with_suffix(".csv"))
        t = results.timing_s
        print(f"\n{len(results.trained)} runs trained now, the others loaded from {out / 'runs'}. Summed "
              f"over the runs trained now (in parallel processes): training {t['train']:.1f} s, encoding "
              f"{t['encode']:.1f} s, probe {t['probe']:.1f} s")
        if name == "table3":
            print(f"Table 3: {table3_wall:.1f} s wall, of which {t['score']:.1f} s scoring the runs (probes, "
                  "generated tags, importance-weighted log-likelihoods)")
        print(f"wrote {stem}.json and {stem}.csv")
    print(f"\nwall time {wall:.1f} s")
    return 0


def run_one(args) -> int:
    preset = _default_preset(args)
    out = Path(args.out)
    try:
        if args.model not in MODEL_SPECS:
            raise ValueError(f"--model must be one of {model_names()}; found {args.model!r}")
        check_row(Row(0, args.model, args.setting))
        check_available(args.dataset, [args.split], args.data_root)
        with _stop_on_signals():
            run = get_run(args.dataset, args.model, args.setting, args.split, preset=preset, epochs=args.epochs,
                          out_dir=out, device=args.device, data_root=args.data_root, progress=not args.quiet)
    except (DataError, ValueError, OSError, TrainingDiverged, KeyboardInterrupt) as err:
        return _failed(err, out)
    scores = ", ".join(f"setting {s}: LRAP {m['lrap']:.3f}" for s, m in sorted(run.metrics.items()))
    print(f"{'trained and saved' if run.trained_now else 'already saved:'} {run.path} ({scores})")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "reproduce":
        return reproduce(args)
    if args.command == "run":
        return run_one(args)
    return 2  # pragma: no cover - argparse requires a command
