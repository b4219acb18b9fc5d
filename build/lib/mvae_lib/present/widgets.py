"""Explorers as widgets for Jupyter, and their static first state in the rendered book.

In a page a widget cannot run: :func:`show_explorer` shows a static rendering there instead.

Each widget only wires a view of :mod:`mvae_lib.present.explore` to a drawing of
:mod:`mvae_lib.present.images`: :func:`digit_explorer` (a test digit under every Table 3
row) and :func:`sweep_explorer` (a sweep of one option of a model, whose button is the only
thing here that trains).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..datasets import Split, load_split
from ..runs import get_run, resolve_preset
from ..models import LatentModel
from ..table3 import Row3
from .explore import DigitViews, SweepViews, check_index, digit_views, sweep_views
from .images import render_digit_views, render_sweep
from .interactive import in_book_build


def next_of_class(split: Split, label: int, after: int) -> int:
    """The first test example of class ``label`` after index ``after``, wrapping to the start."""
    hits = np.flatnonzero(split.y_test[:, label] > 0)
    if not len(hits):
        raise ValueError(f"no test example of class {split.label_names[label]!r} in this split")
    later = hits[hits > after]
    return int(later[0] if len(later) else hits[0])


def _redraw(output, fig) -> None:
    """Replace what ``output`` shows by ``fig`` (or nothing); closed, so that pyplot never shows it twice."""
    import matplotlib.pyplot as plt
    from IPython.display import clear_output, display

    with output:
        clear_output(wait=fig is not None)  # waiting for a figure avoids a flicker; with none to come, clear now
        if fig is not None:
            display(fig)
            plt.close(fig)


class DigitExplorer:
    """The state behind :func:`digit_explorer`'s widget (``widget.state``): the last views and figure."""

    def __init__(self, split: Split, models: Mapping[Row3, LatentModel], index: int, samples: int, seed: int):
        import ipywidgets as widgets

        self.split, self.models, self.samples, self.seed = split, models, samples, seed
        self.views: DigitViews | None = None
        self.figure = None
        n = len(split.y_test)
        self.index_box = widgets.BoundedIntText(value=check_index(index, n), min=0, max=n - 1,
                                                description="test index")
        self.digit_menu = widgets.Dropdown(
            options=[("next digit…", None)] + [(name, k) for k, name in enumerate(split.label_names)],
            value=None, description="jump to")
        self.output = widgets.Output()
        self.index_box.observe(lambda change: self.show(change["new"]), names="value")
        self.digit_menu.observe(self.jump, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.index_box, self.digit_menu]), self.output])
        self.widget.state = self
        self.show(self.index_box.value)

    def show(self, index: int) -> None:
        self.views = digit_views(self.split, self.models, index, self.samples, self.seed)
        self.figure = render_digit_views(self.views)
        _redraw(self.output, self.figure)

    def jump(self, change) -> None:
        if change["new"] is None:
            return
        self.index_box.value = next_of_class(self.split, change["new"], self.index_box.value)  # redraws
        self.digit_menu.value = None  # choosing the same digit again jumps to the next one


def digit_explorer(split: Split, models: Mapping[Row3, LatentModel], index: int = 0, samples: int = 10,
                   seed: int = 0):
    """A widget: type a test index (or jump to the next example of a digit) and see
    :func:`render_digit_views` of it. Its ``state`` (:class:`DigitExplorer`) holds the last
    views and figure."""
    return DigitExplorer(split, models, index, samples, seed).widget


class SweepExplorer:
    """The state behind :func:`sweep_explorer`'s widget (``widget.state``): the loaded values
    (``cache``) and the last figure. Only :meth:`train`, run by the button, trains."""

    def __init__(self, kwargs: dict, data: Split, values: Sequence[float], progress: bool):
        import ipywidgets as widgets

        self.kwargs, self.data, self.progress = kwargs, data, progress
        self.cache: dict[float, SweepViews] = {}
        self.figure = None
        self.slider = widgets.SelectionSlider(options=[(f"{v:g}", v) for v in values], value=values[0],
                                              description=kwargs["option"])
        self.message = widgets.HTML()
        self.button = widgets.Button(description="train this run", layout=widgets.Layout(display="none"))
        self.output = widgets.Output()
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.button.on_click(lambda _: self.train(self.slider.value))
        self.widget = widgets.VBox([self.slider, self.message, self.button, self.output])
        self.widget.state = self
        self.show(values[0])

    def views(self, value: float) -> SweepViews:
        if value not in self.cache:
            views = sweep_views(**self.kwargs, values=(value,), data=self.data)
            if not views.by_value[value].saved:
                return views  # not cached: the run may be trained later
            self.cache[value] = views
        return self.cache[value]

    def show(self, value: float) -> None:
        views = self.views(value)
        saved = views.by_value[value].saved
        self.figure = render_sweep(views, value) if saved else None
        self.message.value = "" if saved else (
            f"No saved run for {views.model} with {views.option} = {value:g}. Nothing trains on a slider "
            "move; press the button to train it here (minutes on a CPU), or build the chapter first.")
        self.button.layout.display = "none" if saved else None
        _redraw(self.output, self.figure)

    def train(self, value: float) -> None:
        k = self.kwargs
        self.button.disabled, self.message.value = True, f"training {k['model']} with {k['option']} = {value:g}…"
        try:
            get_run(k["dataset"], k["model"], 3, k["split"], preset=k["preset"], out_dir=k["out_dir"],
                    device=k["device"], data_root=k["data_root"], progress=self.progress, data=self.data,
                    options={k["option"]: value})
        finally:
            self.button.disabled = False
        self.show(value)


def sweep_explorer(dataset: str, option: str, values: Sequence[float], split: int, preset, out_dir,
                   indices: Sequence[int], device=None, data_root=None, model: str = "JMVAE-kl", samples: int = 10,
                   seed: int = 0, data: Split | None = None, progress: bool = True):
    """A widget: a slider over ``values`` of ``option`` showing :func:`render_sweep` of each (loaded
    once, then cached); for a value whose run is not saved, a message and a button that trains
    it (:func:`mvae_lib.runs.get_run`, the only path that trains). Its ``state`` is a
    :class:`SweepExplorer`. Arguments as :func:`sweep_views`."""
    if not len(values):
        raise ValueError(f"no values of {option!r} to show")
    data = load_split(dataset, split, data_root) if data is None else data
    kwargs = dict(dataset=dataset, option=option, split=split, preset=resolve_preset(preset), out_dir=out_dir,
                  indices=indices, device=device, data_root=data_root, model=model, samples=samples, seed=seed)
    return SweepExplorer(kwargs, data, values, progress).widget


def live_note(chapter: str | None = None) -> str:
    """The note under a static rendering: what it is and how to run the explorer live."""
    page = f"`book/{chapter}.md`" if chapter else "this chapter's file under `book/`"
    return ("*This is a static rendering of the explorer's first state: a page cannot run its widgets.* "
            f"To explore live, open this chapter in Jupyter: see the README's set-up, then run `jupyter lab` "
            f"and open {page}.")


@dataclass(frozen=True)
class Shown:
    """What :func:`show_explorer` displayed: the static figure and note (book) or the widget
    (Jupyter). Already displayed, so it shows nothing as a cell's last value."""

    figure: object = None
    note: str | None = None
    widget: object = None

    def _ipython_display_(self) -> None:
        pass  # shown once, by show_explorer; a cell ending in show_explorer(...) must not show it twice


def show_explorer(make_widget: Callable[[], object], static_figure, note: str | None = None,
                  chapter: str | None = None) -> Shown:
    """Show an explorer where the chapter runs; return what was shown (:class:`Shown`).

    In the rendered book (:func:`mvae_lib.present.interactive.in_book_build`) displays ``static_figure``
    (a Figure, or a zero-argument callable making it) and a Markdown ``note`` (default:
    :func:`live_note` for ``chapter``): ``make_widget`` is never called, so no widget, whose
    output a page would print as text, is made. Elsewhere (Jupyter) displays
    ``make_widget()``; a callable ``static_figure`` is then never called.
    """
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    if in_book_build():
        fig = static_figure() if callable(static_figure) else static_figure
        note = note or live_note(chapter)
        display(fig)
        display(Markdown(note))
        plt.close(fig)  # shown once: not again by the inline backend at the end of the cell
        return Shown(figure=fig, note=note)
    if not callable(static_figure):
        plt.close(static_figure)  # the widget shows the same state
    widget = make_widget()
    display(widget)
    return Shown(widget=widget)
