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
"""
from __future__ import annotations

import os

BOOK_BUILD_ENV = "MVAE_BOOK_BUILD"  # set to "1" by scripts/build_book.py for the chapters' kernels


def in_book_build() -> bool:
    """True when a chapter is executed by ``scripts/build_book.py`` (the rendered book):
    explorers then show a static rendering instead of widgets, which a page cannot run."""
    return os.environ.get(BOOK_BUILD_ENV) == "1"
