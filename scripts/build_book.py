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
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

from mvae_lib.present.interactive import BOOK_BUILD_ENV

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


def execute(src: Path, parameters: dict, timings: dict, record: dict) -> None:
    record["chapters"] = []
    # the chapters' kernels inherit it: explorers then show a static rendering, not widgets
    os.environ[BOOK_BUILD_ENV] = "1"
    write_report(src, record)
    for chapter in chapters():
        md = src / f"{chapter}.md"
        if not is_notebook(md):
            continue
        ipynb = md.with_suffix(".ipynb")
        jupytext.write(jupytext.read(md), ipynb)
        md.unlink()  # the executed .ipynb is the page now
        start = time.perf_counter()
        print(f"executing {chapter} ...", flush=True)
        params = dict(parameters, runs_dir=os.path.relpath(parameters["runs_dir"], ipynb.parent))
        try:
            papermill.execute_notebook(ipynb, ipynb, parameters=params, cwd=ipynb.parent,
                                       kernel_name="python3", progress_bar=False)
        except papermill.PapermillExecutionError as err:
            sys.exit(f"chapter {chapter} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                     f"(the executed notebook with the traceback is {ipynb})")
        timings[chapter] = time.perf_counter() - start
        record["chapters"].append({"chapter": chapter, "title": title(md_source(chapter)),
                                   "seconds": round(timings[chapter], 2)})
        write_report(src, record)  # as it goes: the last chapter reads every earlier one
        collapse_injected_parameters(ipynb)


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
    parser.add_argument("--skip-execute", action="store_true", help="render the last executed copies again")
    args = parser.parse_args(argv)
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
        execute(src, parameters, timings, record)
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
