"""Build the book: execute every chapter with papermill, then render it with Jupyter Book.

    python scripts/build_book.py                 # the full reproduction on the bundled data
    python scripts/build_book.py --quick         # quick mode (CI, tests): 2 splits, 5 epochs
    python scripts/build_book.py --dataset mirflickr --data-root DIR --device cuda

Steps: (1) copy the book's sources to _build/src and convert each MyST-markdown chapter
to .ipynb with jupytext; (2) execute each chapter in place with papermill, passing the
parameters below to its cell tagged ``parameters`` (a failing cell stops the build and
names the chapter); (3) build HTML from the executed notebooks with
``jupyter-book build -W -n --keep-going`` (warnings and broken references are errors).
The HTML lands in _build/html (``--build-dir`` moves everything elsewhere). Chapters share trained models through --runs-dir, so a
model is trained once per setting and split and reused across chapters and builds.

As it goes, the build writes ``book/build_report.json`` beside the executed chapters: the
machine (CPU model, cores, torch version, device), the mode, and each chapter's execution
time once it has run. The last chapter, ``book/build_report``, reads it and shows it.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml


ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"


def chapters() -> list[str]:
    """Chapter paths (without suffix) in table-of-contents order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return files


def stage(src: Path) -> None:
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copytree(ROOT / "book", src / "book")
    shutil.copy(ROOT / "_toc.yml", src / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"  # executed by papermill already
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def is_notebook(md: Path) -> bool:
    return md.read_text().startswith("---\njupytext:")


REPORT = "book/build_report.json"  # read by the chapter book/build_report


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(device: str) -> dict:
    """What the chapters run on, recorded once per build."""
    import torch

    from mvae_lib.train import pick_device

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "device": str(pick_device(device)),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform()}


def write_report(src: Path, record: dict) -> None:
    path = src / REPORT
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


#: The chapter that reads the build record: executed last, once every other chapter has run.
REPORT_CHAPTER = "book/build_report"


def default_jobs(quick: bool) -> int:
    """Chapters executed at a time: in a quick build two where there are two cores or more,
    else one. Most of a chapter's time outside training is one busy core (its kernel's start,
    scoring, figures), so a second chapter fills the other; the runs they share are trained
    once (a chapter that needs a run another is training waits for it, :mod:`mvae_lib.claims`).
    The full build runs one at a time: its pages report how long each model took to train
    (Table 3's cost box, the MoPoE estimators' cost), and two chapters sharing the cores
    would slow some runs and not others."""
    return 2 if quick and (os.cpu_count() or 1) >= 2 else 1


def _die_with_parent(parent_pid: int) -> None:
    """In a process that runs chapters: end when the build ends, even if it is killed (Linux:
    the kernel sends SIGTERM; the chapter's own kernel then ends with this process). The
    grid workers' ``mvae_lib.workers._die_with_parent``, less its portable fallback thread:
    importing it would import torch in each of these processes, which only start kernels."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the build ended before prctl took effect
        os._exit(1)


def run_chapter(chapter: str, ipynb: str, params: dict) -> tuple[float, float, str | None]:
    """Execute one chapter in place: ``(start, seconds, failure)``, ``start`` on the clock of
    :func:`time.time` and ``failure`` None or why it failed (a process of its own when chapters
    run in parallel, so it returns the failure rather than raising it)."""
    print(f"executing {chapter} ...", flush=True)
    start, t0 = time.time(), time.perf_counter()
    try:
        papermill.execute_notebook(ipynb, ipynb, parameters=params, cwd=str(Path(ipynb).parent),
                                   kernel_name="python3", progress_bar=False)
    except papermill.PapermillExecutionError as err:
        return start, time.perf_counter() - t0, (
            f"chapter {chapter} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"(the executed notebook with the traceback is {ipynb})")
    return start, time.perf_counter() - t0, None


def execute(src: Path, parameters: dict, timings: dict, record: dict, jobs: int = 1) -> None:
    """Execute every chapter, ``jobs`` at a time in table-of-contents order (each next one
    starts when one ends), then :data:`REPORT_CHAPTER`. A failing chapter stops the build:
    the chapters not started are not run, and the ones running are let finish."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    record["chapters"], record["jobs"] = [], jobs
    # the chapters' kernels inherit it: explorers then show a static rendering, not widgets
    # (imported here: a process that runs chapters imports this script, and needs no torch)
    from mvae_lib.present.interactive import BOOK_BUILD_ENV

    os.environ[BOOK_BUILD_ENV] = "1"
    if jobs > 1:
        # More busy threads than cores: OpenMP threads that spin while they wait for work
        # (libgomp's default) burn the cores the other chapter needs. Measured on the quick
        # build, 2 cores: 779 s of CPU at 442 s wall with spinning, 600 s at 351 s without.
        # Only the waiting changes, not what is computed.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    write_report(src, record)
    todo = []
    for chapter in chapters():
        md = src / f"{chapter}.md"
        if not is_notebook(md):
            continue
        ipynb = md.with_suffix(".ipynb")
        jupytext.write(jupytext.read(md), ipynb)
        md.unlink()  # the executed .ipynb is the page now
        params = dict(parameters, runs_dir=os.path.relpath(parameters["runs_dir"], ipynb.parent))
        todo.append((chapter, str(ipynb), params))
    last = [t for t in todo if t[0] == REPORT_CHAPTER]
    todo = [t for t in todo if t[0] != REPORT_CHAPTER]
    t_start = time.time()

    def done(chapter, ipynb, start, seconds, failure):
        if failure is not None:
            sys.exit(failure)
        timings[chapter] = seconds
        record["chapters"].append({"chapter": chapter, "title": title(md_source(chapter)),
                                   "start": round(start - t_start, 2), "seconds": round(seconds, 2)})
        record["chapters"].sort(key=lambda c: c["start"])
        spans = [(c["start"], c["start"] + c["seconds"]) for c in record["chapters"]
                 if c["chapter"] != REPORT_CHAPTER]
        record["wall_seconds"] = round(max(e for _, e in spans) - min(b for b, _ in spans), 2)
        write_report(src, record)  # as it goes: the last chapter reads every earlier one
        collapse_injected_parameters(Path(ipynb))

    if jobs == 1:
        for chapter, ipynb, params in todo:
            done(chapter, ipynb, *run_chapter(chapter, ipynb, params))
    else:
        # spawned workers (a forked copy of this process would share its open sockets and
        # locks) that end with this process, however it ends: a chapter's kernel ends with
        # the process that started it
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            queue, running, failure = list(todo), {}, None
            try:
                while queue or running:
                    while queue and len(running) < jobs and failure is None:  # no more than jobs started
                        t = queue.pop(0)
                        running[pool.submit(run_chapter, *t)] = t
                    if not running:
                        break
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        chapter, ipynb, _ = running.pop(future)
                        start, seconds, error = future.result()
                        if error is not None:
                            failure = failure or error
                            if running:  # say it now: the chapters still running are let finish
                                print(f"{error}\n(waiting for {len(running)} chapter(s) still running)",
                                      file=sys.stderr, flush=True)
                            continue
                        done(chapter, ipynb, start, seconds, None)
            except KeyboardInterrupt:  # Ctrl-C: stop the chapters now (their kernels follow them)
                from mvae_lib import workers

                workers.stop(pool)
                raise
            if failure is not None:
                sys.exit(failure)
    for chapter, ipynb, params in last:
        done(chapter, ipynb, *run_chapter(chapter, ipynb, params))


def md_source(chapter: str) -> Path:
    return ROOT / f"{chapter}.md"


def title(md: Path) -> str:
    """A chapter's title: its first level-1 heading."""
    for line in md.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


def collapse_injected_parameters(ipynb: Path) -> None:
    """Show papermill's cell of this build's parameters collapsed, below the documented defaults."""
    nb = nbformat.read(ipynb, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.metadata["tags"] = tags + ["hide-input"]
            cell.source = "# The parameters this build passed in (papermill)\n" + cell.source.replace(
                "# Parameters\n", "")
    nbformat.write(nb, ipynb)


def offer_notebooks(html: Path) -> None:
    """Make each page's download button (.ipynb) offer the chapter as a reader runs it: the
    source converted to a notebook, with its default parameters and no outputs (the built
    book's copy is the executed one, with this build's parameters and every output)."""
    for chapter in chapters():
        md = md_source(chapter)
        target = html / "_sources" / f"{chapter}.ipynb"
        if is_notebook(md) and target.exists():
            jupytext.write(jupytext.read(md), target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="quick mode for CI and the tests: 2 splits, 5 epochs with a 2-epoch KL warm-up "
                           "(default: the full reproduction, 5 splits and the preset's epochs)")
    mode.add_argument("--full", action="store_true", help="the full reproduction (the default; accepted so "
                                                          "that older commands keep working)")
    parser.add_argument("--dataset", default="mnist-halves", choices=["mnist-halves", "mirflickr"])
    parser.add_argument("--data-root", default=None, help="MIR Flickr release folder (or set MIRFLICKR_ROOT)")
    parser.add_argument("--splits", type=int, default=None, help="splits to use (default: 5; 2 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the preset's; 5 with --quick)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--build-dir", default=str(BUILD),
                        help="where the executed sources, the HTML and (by default) the runs go (default: _build; "
                             "the tests build into a temporary folder so that a reader's book is left alone)")
    parser.add_argument("--runs-dir", default=None,
                        help="saved runs shared by the chapters (default: BUILD_DIR/mvae_runs)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="chapters executed at a time (default: 2 for --quick on two or more cores, else 1); "
                             "the chapters share their runs, so a run is still trained once")
    parser.add_argument("--skip-execute", action="store_true", help="render the last executed copies again")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1 (chapters executed at a time), got {args.jobs}")
    build = Path(args.build_dir).resolve()
    runs_dir = Path(args.runs_dir) if args.runs_dir else build / "mvae_runs"
    src = build / "src"
    parameters = {"quick": args.quick, "dataset": args.dataset, "data_root": args.data_root,
                  "device": args.device, "runs_dir": str(runs_dir.resolve()),
                  "splits": args.splits, "epochs": args.epochs}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if not args.skip_execute:
        stage(src)
        record = {"mode": "quick" if args.quick else "full", "dataset": args.dataset,
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "machine": machine(args.device)}
        execute(src, parameters, timings, record, default_jobs(args.quick) if args.jobs is None else args.jobs)
    t_html = time.perf_counter()
    cmd = ["jupyter-book", "build", str(src), "--path-output", str(build / "book"), "-W", "-n", "--keep-going"]
    print(" ".join(cmd), flush=True)
    result = subprocess.run(cmd)
    html = build / "html"
    if result.returncode == 0:
        if html.exists():
            shutil.rmtree(html)
        shutil.copytree(build / "book/_build/html", html)
        offer_notebooks(html)
    total = time.perf_counter() - start
    for chapter, seconds in timings.items():
        print(f"  {chapter:<24} {seconds:6.1f} s")
    print(f"  {'html build':<24} {time.perf_counter() - t_html:6.1f} s")
    print(f"{'quick' if args.quick else 'full'} build: {total:.1f} s; "
          + (f"open {html / 'index.html'}" if result.returncode == 0 else "FAILED"))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
