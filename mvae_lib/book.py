"""The book's side of the library: what every chapter does before its own code.

A chapter keeps its parameters cell (papermill fills it in) and then makes one call,

.. code-block:: python

    chapter = setup(quick=quick, dataset=dataset, data_root=data_root, device=device,
                    runs_dir=runs_dir, splits=splits, epochs=epochs)

which returns a :class:`Chapter`: the build's mode (:class:`BookMode`: quick or full,
splits, epochs, preset), the banner each page shows first, its data and saved runs (loaded,
or trained once and shared by every chapter), and the ``glue`` helpers that hand the
chapter's numbers and figures to its text. :func:`build_report` writes the last page.
"""
from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import Split, get_dataset, load_split
from .results import Results
from .runner import keep_workers
from .runs import Run, get_run, resolve_preset
from .tables import run_table
from .stats import Comparison, compare
from .table3 import TABLE3_ROWS, EvalConfig, book_evaluation, run_table3


@dataclass(frozen=True)
class BookMode:
    """What the book's quick and full modes train: every chapter derives its runs from this,
    so that chapters find each other's saved runs."""

    splits: int
    epochs: int | None  # None: the preset's
    preset: str
    tsne_points: int
    quick: bool = True
    dataset: str = "mnist-halves"

    @classmethod
    def make(cls, quick: bool, dataset: str = "mnist-halves", splits: int | None = None,
             epochs: int | None = None) -> "BookMode":
        preset = get_dataset(dataset).preset
        if quick:
            return cls(splits or 2, epochs or 5, preset, 500, True, dataset)
        return cls(splits or 5, epochs, preset, 1000, False, dataset)

    @property
    def n_epochs(self) -> int:
        """The epochs the runs train for (the preset's when not overridden)."""
        return self.train_preset().train.epochs

    def train_preset(self):
        """The preset the runs train with: ``preset`` with this mode's epochs (and, when they
        are overridden, the KL warm-up capped at half of them, :meth:`Preset.with_epochs`)."""
        return resolve_preset(self.preset, self.epochs)

    def banner(self) -> str:
        """One Markdown line that every chapter shows first: which build made this page.

        A quick build also says what it changes against the full one: fewer splits, fewer
        epochs and, with fewer epochs, a shorter KL warm-up.
        """
        from .config import get_preset
        base, used = get_preset(self.preset).train, self.train_preset().train
        what = f"{self.dataset}, {self.splits} of {get_dataset(self.dataset).splits} splits, "
        if used.epochs == base.epochs:
            what += f"{used.epochs} epochs"
        else:
            what += f"{used.epochs} epochs instead of the preset's {base.epochs}"
            if used.kl_warmup_epochs != base.kl_warmup_epochs:
                what += f", KL warm-up {used.kl_warmup_epochs} epochs instead of {base.kl_warmup_epochs}"
        what += f", preset `{self.preset}`"
        if self.quick:
            return (f"**Quick build** ({what}): a smoke test of the book, not the reproduction; "
                    "`python3 scripts/build_book.py` builds the full one.")
        return f"**Full build** ({what})."


#: Epochs of Part IV's runs in a quick build (its chapters train 30 runs on two splits).
QUICK_TABLE4_EPOCHS = 2


class Chapter:
    """One chapter's build: the mode, where its data and runs are, and the plumbing every chapter
    shares. Made by :func:`setup`; see the module docstring.

    Attributes
    ----------
    mode : BookMode
        Quick or full build: splits, epochs, preset.
    data_root : str or None
        The MIR Flickr release folder (None: ``$MIRFLICKR_ROOT``).
    device : str
        Where models train and run (``"auto"``, ``"cpu"``, ``"cuda"``...).
    runs_dir : str
        The saved runs, shared by every chapter and every build.
    """

    def __init__(self, mode: BookMode, data_root=None, device: str = "auto", runs_dir="../_build/mvae_runs"):
        self.mode, self.data_root, self.device, self.runs_dir = mode, data_root, device, runs_dir
        self._splits: dict[int, Split] = {}

    def __repr__(self) -> str:
        return (f"Chapter({self.dataset}, {self.splits} splits, {self.n_epochs} epochs, preset "
                f"{self.mode.preset!r}, runs in {self.runs_dir!r})")

    @property
    def dataset(self) -> str:
        return self.mode.dataset

    @property
    def quick(self) -> bool:
        return self.mode.quick

    @property
    def splits(self) -> int:
        """How many splits the tables average over."""
        return self.mode.splits

    @property
    def n_epochs(self) -> int:
        """The epochs every run of the book trains for."""
        return self.mode.n_epochs

    @property
    def preset(self):
        """The :class:`~mvae_lib.config.Preset` the runs train with (this build's epochs)."""
        return self.mode.train_preset()

    @property
    def evaluation(self) -> EvalConfig:
        """How Table 3 is scored in this build (fewer samples in a quick build)."""
        return book_evaluation(self.quick)

    def banner(self):
        """The line every page shows first: which build made it (:meth:`BookMode.banner`)."""
        from IPython.display import Markdown

        return Markdown(self.mode.banner())

    def split(self, k: int = 0) -> Split:
        """Split ``k`` of the data set, loaded once per chapter."""
        if k not in self._splits:
            self._splits[k] = load_split(self.dataset, k, self.data_root)
        return self._splits[k]

    def run(self, model: str, setting: int, split: int = 0, preset=None, **kwargs) -> Run:
        """The saved run of ``model`` in ``setting`` on ``split``, trained first if it is not saved
        (:func:`mvae_lib.runs.get_run`). ``preset``: another preset than the book's (e.g.
        the paper's sizes); ``kwargs`` go to ``get_run`` (``data=``, ``progress=``, ``options=``)."""
        return get_run(self.dataset, model, setting, split, preset=preset or self.preset, out_dir=self.runs_dir,
                       device=self.device, data_root=self.data_root, **kwargs)

    def table(self, rows, encoding: str = "sample", **kwargs) -> Results:
        """Rows of Tables 1-2 on every split of this build (:func:`mvae_lib.tables.run_table`),
        with codes ``encoding``."""
        return run_table(rows, self.dataset, self.splits, preset=self.preset, out_dir=self.runs_dir,
                         device=self.device, encoding=encoding, data_root=self.data_root, **kwargs)

    def table3(self, rows=TABLE3_ROWS, splits=None, **kwargs) -> Results:
        """Rows of Table 3 on every split of this build, or on ``splits`` (a list), scored with
        :attr:`evaluation` (:func:`mvae_lib.table3.run_table3`)."""
        return run_table3(rows, self.dataset, self.splits if splits is None else splits, preset=self.preset,
                          out_dir=self.runs_dir, device=self.device, data_root=self.data_root,
                          evaluation=self.evaluation, **kwargs)

    @property
    def table4_epochs(self) -> int:
        """Epochs of the Table 4 runs: :data:`mvae_lib.table4.TABLE4_EPOCHS`, or in a quick
        build at most :data:`QUICK_TABLE4_EPOCHS` (a smoke test of Part IV)."""
        from .table4 import TABLE4_EPOCHS

        return min(self.n_epochs, QUICK_TABLE4_EPOCHS) if self.quick else TABLE4_EPOCHS

    @property
    def evaluation4(self):
        """How Table 4 is scored in this build (fewer samples in a quick build)."""
        from .table4 import QUICK_EVALUATION4, EvalConfig4

        return QUICK_EVALUATION4 if self.quick else EvalConfig4()

    def table4(self, rows=None, dataset: str = "mnist-quadrants", **kwargs) -> Results:
        """Rows of Table 4 (default: all) on this build's splits of ``dataset`` (the quadrants,
        or ``"mnist-binary-halves"``), the ``small`` preset at :attr:`table4_epochs`
        (:func:`mvae_lib.table4.run_table4`); ``kwargs`` go to it (``cvae=False``...)."""
        from .table4 import TABLE4_ROWS, run_table4

        splits = min(self.splits, get_dataset(dataset).splits)
        return run_table4(TABLE4_ROWS if rows is None else rows, dataset, splits, preset="small",
                          epochs=self.table4_epochs, out_dir=self.runs_dir, device=self.device,
                          evaluation=self.evaluation4, progress=False, **kwargs)

    def settling4(self) -> dict:
        """Table 4's likelihoods of every joint model and every CVAE on split 0 redone at a
        quarter of, and four times, the build's :math:`K` (:func:`mvae_lib.table4.settle_quadrant_run`):
        ``{label: settled}``, the labels of Table 4's rows (a model once, under the reference's
        row if it is one: fills share a model's likelihoods, :func:`mvae_lib.table4.settled_rows`) and ``"CVAE (bl)"``... per configuration. Kept beside each run."""
        from .runner import default_workers, run_jobs
        from .runs import resolve_preset
        from .table4 import CVAE_MODEL, SOHN_CONFIGS, key_of, settle_quadrant_run, settled_rows

        ev = self.evaluation4
        preset = resolve_preset("small", self.table4_epochs)
        common = dict(dataset="mnist-quadrants", split=0, preset=preset, out_dir=self.runs_dir,
                      Ks=(ev.K // 4, ev.K, 4 * ev.K), n_ll=ev.n_ll, examples=ev.examples, device=self.device)
        jobs = {r.label: dict(model=r.model, options=dict(r.options) or None, **common) for r in settled_rows()}
        jobs.update({f"{CVAE_MODEL} ({key_of(c)})": dict(model=CVAE_MODEL, options={"observed": list(c)}, **common)
                     for c in SOHN_CONFIGS})
        # the longest first, so that two workers end together
        order = sorted(jobs, key=lambda j: j.startswith(CVAE_MODEL))
        done = dict(run_jobs(settle_quadrant_run, {j: jobs[j] for j in order},
                             workers=default_workers(self.device, preset), progress=False, desc="settling 4"))
        return {j: done[j] for j in jobs}

    def settling(self, models=("MVAE", "JMVAE-kl", "PoE", "MMVAE", "MoPoE", "MMVAE+"), n: int = 10,
                 repeats: int = 3) -> dict:
        """The settling check of every model's log-likelihoods on split 0 (:func:`mvae_lib.settling.settle_run`):
        ``{model: Settling}`` at :math:`K/10`, :math:`K` and :math:`5K` draws, :math:`K` the one Table 3
        uses in this build, ``repeats`` times (:math:`5K` once) on ``n`` of the test examples whose
        likelihoods Table 3 estimates:
        :math:`n\\,(3.3\\,K + 5K)` decoder passes per model (ours, for CPU time: we measured about 25 s
        per model on two shared cores at the full build's K, a few seconds at the quick build's), the
        models in parallel worker processes (:func:`mvae_lib.settling.settle_model`). Kept beside
        each run, so the chapters "Encoders for every subset" and "Table 3" share one computation."""
        from .runner import default_workers, run_jobs
        from .settling import settle_model

        K = self.evaluation.K
        jobs = {m: dict(dataset=self.dataset, model=m, split=0, preset=self.preset, out_dir=self.runs_dir,
                        Ks=(K // 10, K, 5 * K), n=n, repeats=repeats, device=self.device, data_root=self.data_root)
                for m in models}
        done = dict(run_jobs(settle_model, jobs, workers=default_workers(self.device, self.preset), progress=False,
                             desc="settling"))
        return {m: done[m] for m in models}

    def compare(self, results: Results, a: tuple, b: tuple, metric: str = "lrap") -> Comparison:
        """:func:`mvae_lib.stats.compare` of cells ``a`` and ``b``, quoting this build's epochs."""
        return compare(results, a, b, self.n_epochs, metric)

    def glue(self, name: str, value) -> None:
        """Hand ``value`` to the text, as ``{glue:text}`name``` (myst-nb), without showing it here
        (:func:`mvae_lib.present.interactive.glue`)."""
        from .present.interactive import glue

        glue(name, value)

    def glue_markdown(self, name: str, text: str) -> None:
        """Hand a Markdown phrase to the text, as ``{glue:md}`name``` (rendered, not quoted)."""
        from IPython.display import Markdown

        self.glue(name, Markdown(text))

    def glue_figure(self, name: str, figure) -> None:
        """Hand a figure to a ``{glue:figure}`` of the text. A Matplotlib figure is glued and
        closed (pyplot shows it nowhere else); an interactive one
        (:class:`~mvae_lib.present.interactive.InteractiveFigure`) is also shown here when the
        chapter runs live in Jupyter."""
        from .present.interactive import InteractiveFigure, glue_figure

        if isinstance(figure, InteractiveFigure):
            glue_figure(name, figure)
            return
        import matplotlib.pyplot as plt

        self.glue(name, figure)
        plt.close(figure)

    def glue_cells(self, prefix: str, results: Results, cells) -> None:
        """For each ``(model, setting)`` of ``cells``: glue its mean LRAP over splits as
        ``<prefix>_<model>_<setting>``, its standard deviation (``..._std``) and the paper's
        value (``..._paper``)."""
        for model, setting in cells:
            cell = results.cell(model, setting)
            for suffix, key in (("", "mean"), ("_std", "std"), ("_paper", "paper")):
                self.glue(f"{prefix}_{model}_{setting}{suffix}", cell[key])

    def glue_comparisons(self, results: Results, pairs: dict, metric: str = "lrap") -> dict[str, Comparison]:
        """Compare the cells of each ``{name: (a, b)}`` of ``pairs`` (:meth:`compare`) and glue each
        verdict's description under its name; return the comparisons."""
        compared = {name: self.compare(results, a, b, metric) for name, (a, b) in pairs.items()}
        for name, cmp in compared.items():
            self.glue_markdown(name, cmp.describe())
        return compared

    def show_digit_explorer(self, index: int, page: str, rows=TABLE3_ROWS):
        """The digit explorer of test example ``index`` of split 0 under the saved runs of ``rows``
        (:func:`mvae_lib.present.widgets.digit_explorer`; in the rendered book, its first state),
        or a note where the data are not image halves. ``page``: the chapter, for the note."""
        from .present.explore import digit_views, saved_rows
        from .present.images import render_digit_views
        from .present.widgets import digit_explorer, show_explorer

        if not self._image_halves("digit"):
            return None
        split = self.split(0)
        models, _ = saved_rows(self.dataset, rows, 0, self.preset, self.runs_dir, self.device)
        return show_explorer(lambda: digit_explorer(split, models, index),
                             lambda: render_digit_views(digit_views(split, models, index)), chapter=page)

    def show_sweep_explorer(self, option: str, values, page: str, indices=None, model: str = "JMVAE-kl"):
        """The sweep explorer of ``model``'s ``option`` over ``values`` on test examples ``indices``
        of split 0 (default: the first of each digit) (:func:`mvae_lib.present.widgets.sweep_explorer`;
        in the rendered book, its first value), or a note where the data are not image halves."""
        from .present.explore import sweep_views
        from .present.images import render_sweep
        from .present.widgets import show_explorer, sweep_explorer

        if not self._image_halves("sweep"):
            return None
        if indices is None:
            digit = self.split(0).y_test.argmax(1)
            indices = [int(np.flatnonzero(digit == d)[0]) for d in range(self.split(0).y_test.shape[1])]
        args = (self.dataset, option, values, 0, self.preset, self.runs_dir, indices, self.device, self.data_root,
                model)
        return show_explorer(lambda: sweep_explorer(*args), lambda: render_sweep(sweep_views(*args), values[0]),
                             chapter=page)

    def _image_halves(self, explorer: str) -> bool:
        if self.dataset == "mnist-halves":
            return True
        from IPython.display import Markdown, display

        display(Markdown(f"The {explorer} explorer draws image halves; on this data set the tags are not an image."))
        return False


def setup(quick: bool = True, dataset: str = "mnist-halves", data_root=None, device: str = "auto",
          runs_dir="../_build/mvae_runs", splits: int | None = None, epochs: int | None = None) -> Chapter:
    """A chapter's set-up from its parameters cell (the arguments are its variables; see the
    chapter "Introduction" for what each means): the :class:`Chapter` its code works with.

    In a Jupyter kernel it also keeps the worker processes of the chapter's grids for its next
    grid (:func:`mvae_lib.runner.keep_workers`): they start once per chapter, not per grid."""
    if _in_ipython_kernel():
        keep_workers()
    return Chapter(BookMode.make(quick, dataset, splits, epochs), data_root, device, runs_dir)


def _in_ipython_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_source(*objects) -> None:
    """Print the library's source of each object: the text shows the code that runs."""
    for obj in objects:
        print(inspect.getsource(obj))


def read_build_record(path="build_report.json") -> dict | None:
    """The build record ``scripts/build_book.py`` writes beside the executed chapters, or None."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def build_report(record: dict | None) -> str:
    """The build record written by ``scripts/build_book.py`` as Markdown: the machine, then
    each chapter's execution time in a table (None: say that there is no record)."""
    if record is None:
        return ("No build record was found beside this page: it is written by "
                "`python3 scripts/build_book.py`, which executes every chapter and then this page. "
                "Run in Jupyter on its own, this page has nothing to show.")
    m = record["machine"]
    lines = [f"This was a **{record['mode']} build** on `{record['dataset']}`, started "
             f"{record['started']}, on this machine:", "",
             f"- CPU: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads)",
             f"- device the models trained on: `{m['device']}`",
             f"- torch {m['torch']}, Python {m['python']}",
             f"- platform: `{m['platform']}`", ""]
    jobs = record.get("jobs", 1)
    if jobs > 1:
        lines += [f"The chapters ran {jobs} at a time, each next one starting when one ended, so their "
                  "times overlap: a chapter's time includes waiting for the cores, and for a run "
                  "another chapter was training. The column *started* is when each began, in "
                  "seconds after the first.", ""]
    # a caption line, not a {table} directive: Sphinx would number it "Table 1" on this
    # unnumbered page, which reads as the paper's Table 1
    lines += ["**Execution time of each chapter** in this build (papermill, wall clock), in the order "
              "the chapters started:", "", "| chapter | started | seconds |", "|:--|--:|--:|"]
    chapters = [c for c in record["chapters"]  # not this page (present when it is rerun after a build)
                if c["chapter"] != "book/build_report"]
    first = min((c["start"] for c in chapters if "start" in c), default=0.0)
    total = 0.0
    for c in chapters:
        total += c["seconds"]
        start = f"{c['start'] - first:.1f}" if "start" in c else ""
        lines.append(f"| {{doc}}`{c['title']} </{c['chapter']}>` | {start} | {c['seconds']:.1f} |")
    if "wall_seconds" in record:
        lines += [f"| **all chapters before this one, from the first start to the last end** | | "
                  f"**{record['wall_seconds']:.1f}** |"]
        if jobs > 1:
            lines += [f"| the chapters' times added up | | {total:.1f} |"]
    else:
        lines += [f"| **all chapters before this one** | | **{total:.1f}** |"]
    return "\n".join(lines)
