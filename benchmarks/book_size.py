"""Print the size of a built book, by what takes the room.

    python3 benchmarks/book_size.py [HTML_DIR]     # default: _build/html

Run after ``python3 scripts/build_book.py [--quick]``. The interactive figures add BokehJS
(once, under ``_static/bokeh/``) and their data to the pages that show them (the digit
thumbnails of the latent maps, and each figure's static image for print, inline).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kind(path: Path, html: Path) -> str:
    rel = path.relative_to(html).as_posix()
    if rel.startswith("_static/bokeh/"):
        return "BokehJS"
    if rel.startswith("_static/mathjax/"):
        return "MathJax"
    if rel.startswith("_static/"):
        return "theme and other static files"
    if rel.startswith("_sources/"):
        return "offered notebooks and sources"
    if rel.startswith("_images/"):
        return "images"
    if rel.endswith(".html"):
        return "pages (HTML, with the figures' data)"
    return "other (search index, ...)"


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    html = Path(args[0]) if args else ROOT / "_build" / "html"
    if not (html / "index.html").exists():
        print(f"expected a built book at {html} (with index.html), found none: run "
              "python3 scripts/build_book.py --quick first, or pass the folder", file=sys.stderr)
        return 2
    sizes: dict[str, int] = {}
    for path in html.rglob("*"):
        if path.is_file():
            sizes[kind(path, html)] = sizes.get(kind(path, html), 0) + path.stat().st_size
    total = sum(sizes.values())
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<38} {size / 1e6:7.2f} MB")
    print(f"  {'total':<38} {total / 1e6:7.2f} MB  ({html})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
