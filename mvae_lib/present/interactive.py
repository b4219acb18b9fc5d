"""Interactive figures for the rendered book and for Jupyter (Bokeh).

A chapter builds its figures twice: a static Matplotlib figure, kept for print and PDF, and
an interactive Bokeh figure (zoom, pan, hover, legend entries that hide what they name) for
the screen. :class:`InteractiveFigure` carries both and shows the right one where it is
displayed: in the rendered book the Bokeh figure, with the static image inside the same
output for printing; in Jupyter the Bokeh figure through ``bokeh.io.show``.

BokehJS is never fetched from a CDN: the book's Sphinx extension
(:mod:`mvae_lib.sphinx_interactive`) copies the BokehJS that ships inside the installed
``bokeh`` package into the built book, and ``output_notebook(INLINE)`` sends the same file to
Jupyter.

The figures themselves are made by :mod:`mvae_lib.present.latent_maps` (maps of codes) and
:mod:`mvae_lib.present.bar_charts` (the tables as bars).
"""
from __future__ import annotations

import base64
import io
import os

BOOK_BUILD_ENV = "MVAE_BOOK_BUILD"  # set to "1" by scripts/build_book.py for the chapters' kernels


def in_book_build() -> bool:
    """True when a chapter is executed by ``scripts/build_book.py`` (the rendered book):
    explorers then show a static rendering instead of widgets, which a page cannot run."""
    return os.environ.get(BOOK_BUILD_ENV) == "1"


LEGEND_KEY = "legend-key"  # tag of a latent map's legend stand-ins (one point each, out of view)


def _figure_png(fig) -> str:
    """A Matplotlib figure as base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class InteractiveFigure:
    """A Bokeh layout and, optionally, the static Matplotlib figure it stands for.

    Displayed in a page (``_repr_mimebundle_``), it gives HTML holding the Bokeh figure and,
    hidden on screen and shown in print, the static image; and the static PNG on its own for
    builds that cannot run JavaScript (LaTeX, PDF). In Jupyter, :meth:`show` displays the
    Bokeh figure (:func:`glue_figure` calls it when a chapter runs live).
    """

    def __init__(self, make, static=None, alt: str = "interactive figure"):
        self.make = make  # () -> a new Bokeh layout: a Bokeh model belongs to one document only
        self.layout = make()  # the page's; made now, so that bad input fails here
        self.alt = alt
        self._png = _figure_png(static) if static is not None else None

    def renderers(self) -> list:
        """The glyph renderers that draw data (not the legend's stand-ins)."""
        from bokeh.models import GlyphRenderer

        return [m for m in self.layout.select({"type": GlyphRenderer}) if LEGEND_KEY not in m.tags]

    def points(self) -> int:
        """How many data points the figure draws (what a reader can hover), for tests."""
        total = 0
        for r in self.renderers():
            data = r.data_source.data
            n = len(next(iter(data.values()))) if data else 0
            flt = getattr(r.view, "filter", None)
            group = getattr(flt, "group", None)
            if group is not None:  # a GroupFilter: the rows of this class
                n = sum(1 for v in data[flt.column_name] if v == group)
            total += n
        return total

    def html(self) -> str:
        from bokeh.embed import components

        script, div = components(self.layout)
        static = (f'<img class="mvae-static" alt="{self.alt}" src="data:image/png;base64,{self._png}"/>'
                  if self._png else "")
        return f'<div class="mvae-interactive"><div class="mvae-live">{div}{script}</div>{static}</div>'

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html(), "text/plain": f"[interactive figure: {self.alt}]"}
        if self._png:
            bundle["image/png"] = self._png
        return bundle

    def show(self) -> None:
        """Display the Bokeh figure in Jupyter, with BokehJS from the installed package."""
        from bokeh.io import output_notebook, show
        from bokeh.resources import INLINE

        output_notebook(INLINE, hide_banner=True)
        show(self.make())  # a layout of its own: self.layout may be in the page's document


#: The MIME prefix of a glued value that is not shown where it is glued (myst-nb's
#: ``GLUE_PREFIX``, from papermill's scrapbook records).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value) -> None:
    """Glue ``value`` under ``name`` for the page's ``{glue:...}`` roles and directives, not shown
    here: the output ``myst_nb.glue(name, value, display=False)`` writes (its display data,
    each MIME type prefixed with :data:`GLUE_PREFIX`, and ``{"scrapbook": {"name": name,
    "mime_prefix": GLUE_PREFIX}}`` in the metadata), without importing myst-nb, which
    imports Sphinx and costs each chapter's kernel about 2 s."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def glue_figure(name: str, figure: InteractiveFigure) -> None:
    """Glue ``figure`` for a ``{glue:figure}`` of the page; run live, also show it here."""
    glue(name, figure)
    if not in_book_build():
        figure.show()
