"""Command line: ``python -m mvae_lib reproduce`` prints Tables 1 and 2 beside the paper's."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import PRESETS
from .data import DATASETS, MIRFLICKR_ENV, DataError
from .experiments import TABLE_ROWS, run_table
from .report import format_tables
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mvae_lib",
                     description="The multimodal VAE of Suzuki & Matsuo (JSAI 2016) and its baselines.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rep = sub.add_parser(
        "reproduce", help="train every setting on every split and print Tables 1 and 2",
        description="Train AE and VAE (settings 1-2) and MAE and MVAE (settings 3-4) on each "
                    "split, score a logistic-regression probe on the codes, and print the paper's "
                    "LRAP beside this run's mean +- std over splits. Finished runs are saved in "
                    "--out and reused when the same command is run again.")
    rep.add_argument("--dataset", choices=sorted(DATASETS), default="mnist-halves",
                     help="mnist-halves: bundled, no download (default). mirflickr: the release of "
                          "Srivastava & Salakhutdinov 2012, see --data-root")
    rep.add_argument("--data-root", metavar="DIR",
                     help=f"folder of the unpacked MIR Flickr release (default: ${MIRFLICKR_ENV})")
    rep.add_argument("--splits", type=_positive, default=5, metavar="N",
                     help="use splits 0..N-1 (default 5, the paper's count; at most 5)")
    rep.add_argument("--epochs", type=_positive, metavar="N",
                     help="training epochs (default: the preset's)")
    rep.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="network sizes and training settings: " + "; ".join(
                         f"{p.name}: {p.description}" for p in PRESETS.values())
                     + " (default: small for mnist-halves, paper for mirflickr)")
    rep.add_argument("--encode", choices=["sample", "mean"], default="sample",
                     help="codes for the probe: z sampled from q(z|.) as in the paper (default), or its mean")
    rep.add_argument("--device", default="auto",
                     help="cpu, cuda, cuda:N or auto (default: CUDA when available)")
    rep.add_argument("--out", default="mvae_runs", metavar="DIR",
                     help="where finished runs and the tables (JSON, CSV) are written (default: mvae_runs)")
    rep.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def reproduce(args) -> int:
    preset = args.preset or ("paper" if args.dataset == "mirflickr" else "small")
    if args.splits > DATASETS[args.dataset]:
        print(f"error: {args.dataset} has {DATASETS[args.dataset]} splits; found --splits {args.splits}",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    start = time.perf_counter()
    try:
        results = run_table(TABLE_ROWS, args.dataset, args.splits, preset, args.epochs, out,
                            args.device, args.encode, args.data_root, progress=not args.quiet)
    except (DataError, ValueError, TrainingDiverged, KeyboardInterrupt) as err:
        print("interrupted" if isinstance(err, KeyboardInterrupt) else f"error: {err}", file=sys.stderr)
        if (out / "runs").exists():
            print(f"(finished runs are kept in {out / 'runs'}; rerunning the command resumes)", file=sys.stderr)
        return 130 if isinstance(err, KeyboardInterrupt) else 1
    wall = time.perf_counter() - start
    print(format_tables(results))
    stem = out / f"tables-{args.dataset}-{preset}-{args.encode}"
    results.to_json(stem.with_suffix(".json"))
    results.to_csv(stem.with_suffix(".csv"))
    t = results.timing_s
    print(f"\nwall time {wall:.1f} s. Summed over the runs trained now (in parallel processes): "
          f"training {t['train']:.1f} s, encoding {t['encode']:.1f} s, probe {t['probe']:.1f} s")
    print(f"wrote {stem}.json and {stem}.csv")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "reproduce":
        return reproduce(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
