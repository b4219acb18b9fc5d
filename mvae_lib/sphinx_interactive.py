"""Sphinx extension of the book: BokehJS and the interactive figures' style, bundled.

Pages whose cells show an :class:`mvae_lib.present.interactive.InteractiveFigure` get one script tag
for the BokehJS that ships inside the installed ``bokeh`` package, copied into the built
book's ``_static/bokeh/``; no page fetches anything from outside the book's folder. Every
page gets a small style sheet: on screen the interactive figure, in print its static image.

Enable it in ``_config.yml`` (``sphinx: extra_extensions: [mvae_lib.sphinx_interactive]``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

CSS = """\
/* mvae_lib.sphinx_interactive: the interactive figure on screen, its static image in print */
.mvae-interactive { overflow-x: auto; margin: 0.5em 0; }
.mvae-interactive .mvae-static { display: none; }
@media print {
  .mvae-interactive .mvae-live { display: none; }
  .mvae-interactive .mvae-static { display: block; max-width: 100%; }
}
/* the chapters' code at a size that fits 86 characters a line in a 1280-px window */
div.cell_input div.highlight pre { font-size: 0.75rem; }
/* a table wider than the page scrolls sideways; its caption stays in view, as wide as the page */
.pst-scrollable-table-container { container-type: inline-size; }
.pst-scrollable-table-container > table > caption { position: sticky; left: 0; max-width: 100cqw; }
"""
MARKER = 'class="mvae-live"'  # what InteractiveFigure.html() writes into a page


def bokeh_js() -> Path:
    """The minified BokehJS inside the installed ``bokeh`` package."""
    import bokeh

    path = Path(bokeh.__file__).parent / "server" / "static" / "js" / "bokeh.min.js"
    if not path.exists():
        raise FileNotFoundError(f"expected BokehJS at {path} (inside the installed bokeh {bokeh.__version__}), "
                                "found nothing: reinstall bokeh (pip install -r requirements.txt)")
    return path


def static_name() -> str:
    import bokeh

    return f"bokeh/bokeh-{bokeh.__version__}.min.js"


def _page_context(app, pagename, templatename, context, doctree):
    if MARKER in context.get("body", ""):
        app.add_js_file(static_name())  # this page only (Sphinx >= 3.5)


def _light_mode(app, pagename, templatename, context, doctree):
    """The theme's colour mode when the reader has chosen none: light (the figures are drawn
    on white). Left empty, as Jupyter Book 1 leaves it, the theme logs a console error."""
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def _drop_thebe(app, pagename, templatename, context, doctree):
    """Leave out sphinx-thebe's scripts, which Jupyter Book 1 adds to every page (twice: the
    second copy of its ``const THEBE_JS_URL`` is a JavaScript error in every page) even with
    its launch button off. Thebe runs code on a remote Binder and loads from a CDN, so it
    cannot work in an offline book anyway."""
    scripts = context.get("script_files")
    if scripts is not None:
        context["script_files"] = [js for js in scripts if "thebe" not in str(js).lower()
                                   and "THEBE_JS_URL" not in str(getattr(js, "attributes", {}).get("body", ""))]


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    target = static / static_name()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bokeh_js(), target)
    (static / "mvae-interactive.css").write_text(CSS)


def setup(app):
    import os

    from .present.interactive import BOOK_BUILD_ENV

    bokeh_js()  # fail at the start of a build, not at its end
    # a plain `jupyter-book build` executes the chapters itself: they are in a book build too
    os.environ.setdefault(BOOK_BUILD_ENV, "1")
    app.add_css_file("mvae-interactive.css")
    app.connect("html-page-context", _page_context)
    app.connect("html-page-context", _drop_thebe, priority=900)  # after sphinx-thebe's own handlers
    app.connect("html-page-context", _light_mode, priority=900)
    app.connect("build-finished", _copy)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
