"""The book builds (papermill in quick mode, then a strict Jupyter Book build) and its pages
work offline in a real browser: every chapter loads, the maths is rendered by the bundled
MathJax, no image is broken, every interactive figure is drawn with its data, no page
requests anything from outside the book's folder and none logs a JavaScript error. Every chapter says which build made it, every exercise has
a solution, equation numbers carry the chapter's number, no page prints a Python repr where
a table belongs, and the build report lists every chapter. The tests build into a temporary
folder (screenshots go there too) and leave a reader's ``_build/`` as they found it."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
READERS_BUILD = ROOT / "_build"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--virtual-time-budget=30000"]

# Injected first into the <head> of a copy of each page: record every JavaScript error and
# console error from the start.
CATCH = """<script>
window.__bookErrors = [];
window.addEventListener('error', function (e) { window.__bookErrors.push('error: ' + e.message); });
window.addEventListener('unhandledrejection', function (e) { window.__bookErrors.push('rejection: ' + e.reason); });
(function () {
  var original = console.error;
  console.error = function () {
    window.__bookErrors.push('console.error: ' + Array.from(arguments).join(' '));
    return original.apply(console, arguments);
  };
})();
</script>"""

# Injected at the end of the <body>: once MathJax has finished and every interactive figure
# has been drawn (or a deadline passed), write what the page shows into the DOM, which
# --dump-dom then prints.
PROBE = """<script>
window.addEventListener('load', function () {
  function figures() {
    // every Bokeh document: are its roots drawn, and how many data points do its glyphs hold
    if (!window.Bokeh) { return []; }
    return Bokeh.documents.map(function (doc) {
      var roots = doc.roots().map(function (root) {
        var view = Bokeh.index.get_by_id(root.id);
        return !!view && view.el.getBoundingClientRect().height > 0;
      });
      var points = 0, renderers = 0;
      doc.all_models.forEach(function (m) {
        if (m.type === 'GlyphRenderer' && m.tags.indexOf('legend-key') < 0) {
          renderers += 1;
          points += m.data_source.get_length() || 0;
        }
      });
      return {drawn: roots.length > 0 && roots.every(Boolean), renderers: renderers, points: points};
    });
  }
  function report() {
    var imgs = Array.from(document.images);
    var maths = Array.from(document.querySelectorAll('.math'));
    var out = document.createElement('pre');
    out.id = 'book-check';
    out.textContent = JSON.stringify({
      images: imgs.length,
      broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                  .map(function (i) { return i.getAttribute('src').slice(0, 80); }),
      math: maths.length,
      rendered: document.querySelectorAll('mjx-container').length,
      raw: maths.filter(function (m) { return !m.querySelector('mjx-container'); })
                .map(function (m) { return m.textContent.slice(0, 80); }),
      mathjax: typeof window.MathJax === 'object' && !!window.MathJax.startup,
      expected_figures: document.querySelectorAll('.mvae-live').length,
      // code cells and displayed equations wider than the page (scrolled sideways)
      wide_code: Array.from(document.querySelectorAll('div.cell_input pre'))
                   .filter(function (e) { return e.scrollWidth > e.clientWidth + 1; })
                   .map(function (e) { return e.textContent.trim().slice(0, 60); }),
      wide_math: Array.from(document.querySelectorAll('mjx-container[display="true"]'))
                   .filter(function (e) { return e.firstElementChild &&
                     e.firstElementChild.getBoundingClientRect().width > e.getBoundingClientRect().width + 1; })
                   .map(function (e) { return e.textContent.slice(0, 60); }),
      // captions of tables that scroll sideways: cut off where the page ends?
      cut_captions: Array.from(document.querySelectorAll('.pst-scrollable-table-container'))
                   .filter(function (c) { var cap = c.querySelector('caption'); if (!cap) { return false; }
                     var box = c.getBoundingClientRect(), r = cap.getBoundingClientRect();
                     c.scrollLeft = c.scrollWidth;
                     var s = cap.getBoundingClientRect(); c.scrollLeft = 0;
                     return r.right > box.right + 1 || s.left < box.left - 1; })
                   .map(function (c) { return c.querySelector('caption').textContent.trim().slice(0, 60); }),
      figures: figures(),
      requests: performance.getEntriesByType('resource').map(function (e) { return e.name; }),
      errors: window.__bookErrors || []
    });
    document.body.appendChild(out);
  }
  var tries = 0;
  function whenFiguresDrawn() {
    var want = document.querySelectorAll('.mvae-live').length, got = figures();
    var done = got.length >= want && got.every(function (f) { return f.drawn; });
    if (done || ++tries > 50) { setTimeout(report, 200); } else { setTimeout(whenFiguresDrawn, 100); }
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(whenFiguresDrawn);
  } else { setTimeout(whenFiguresDrawn, 3000); }
});
</script>"""


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def numbered_chapters() -> dict[str, int]:
    """Chapter -> its number: the chapters of numbered parts, numbered on across parts."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    return {f: i for i, f in enumerate(files, start=1)}


def notebook_chapters() -> list[str]:
    return [c for c in chapters() if (ROOT / f"{c}.md").read_text().startswith("---\njupytext:")]


def output_areas(page: str) -> list[str]:
    """The text of every code cell's output area of a rendered page."""
    areas = re.findall(r'<div class="cell_output docutils container">(.*?)</div>\s*</div>\s*</div>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", a)) for a in areas]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time (empty if none)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


READERS_BOOK: dict[str, dict] = {}


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    """Build the book in quick mode as the tests and CI do (``--quick``), into a temporary
    folder; fail on any warning."""
    build = tmp_path_factory.mktemp("book")
    READERS_BOOK["before"] = snapshot(READERS_BUILD / "html")
    result = subprocess.run([sys.executable, "scripts/build_book.py", "--quick", "--build-dir", str(build)],
                            cwd=ROOT, capture_output=True, text=True)
    READERS_BOOK["after"] = snapshot(READERS_BUILD / "html")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "quick build" in result.stdout
    return build / "html"


def test_the_build_leaves_the_readers_book_alone(built_book):
    """A reader who runs the tests after building the full book still has the full book."""
    assert built_book.parent != READERS_BUILD
    assert READERS_BOOK["after"] == READERS_BOOK["before"], "the tests' build changed _build/html"


NOTEBOOK = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# {title}

```{{code-cell}} ipython3
{code}
```
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_chapters_run_jobs_at_a_time_and_a_failure_stops_the_build(monkeypatch, tmp_path, jobs):
    """Real kernels on three tiny chapters: the record lists those that ran, with their start
    times; a failing chapter ends the build with its name and cell, and the report chapter,
    which runs last, is not run."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import build_book

    code = {"c/a": "print('a')", "c/b": "raise ValueError('boom')", "c/c": "print('c')",
            build_book.REPORT_CHAPTER: "print('report')"}
    src = tmp_path / "src"
    for chapter, body in code.items():
        (src / chapter).parent.mkdir(parents=True, exist_ok=True)
        (src / f"{chapter}.md").write_text(NOTEBOOK.format(title=chapter, code=body))
    monkeypatch.setattr(build_book, "chapters", lambda: list(code))
    monkeypatch.setattr(build_book, "md_source", lambda chapter: src / f"{chapter}.ipynb")
    monkeypatch.setattr(build_book, "title", lambda md: md.stem)
    record = {}
    with pytest.raises(SystemExit, match=r"chapter c/b failed in cell \d+: ValueError: boom"):
        build_book.execute(src, {"runs_dir": str(tmp_path / "runs")}, {}, record, jobs)
    ran = [c["chapter"] for c in json.loads((src / build_book.REPORT).read_text())["chapters"]]
    assert "c/a" in ran and "c/b" not in ran and build_book.REPORT_CHAPTER not in ran
    assert record["jobs"] == jobs and all(c["start"] >= 0 for c in record["chapters"])
    # one at a time, the chapter after the failing one never starts; two at a time it may
    # have started beside it, and is let finish
    assert ("c/c" in ran) <= (jobs > 1)


def test_main_command_builds_the_full_book(monkeypatch, tmp_path):
    """Without flags the build script builds the full reproduction; --quick is opt-in."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import build_book

    seen = {}
    monkeypatch.setattr(build_book, "BUILD", tmp_path)
    monkeypatch.setattr(build_book, "stage", lambda src: None)
    monkeypatch.setattr(build_book, "machine", lambda device: {})
    monkeypatch.setattr(build_book, "execute",
                        lambda src, parameters, timings, record, jobs: seen.update(parameters, jobs=jobs))
    monkeypatch.setattr(build_book.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1))
    build_book.main([])
    assert seen["quick"] is False and seen["splits"] is None and seen["epochs"] is None
    build_book.main(["--quick"])
    assert seen["quick"] is True
    build_book.main(["--full"])  # the default, still accepted
    assert seen["quick"] is False
    assert seen["jobs"] == 1  # the full build: one chapter at a time (its pages report training times)
    build_book.main(["--quick"])
    assert seen["jobs"] == build_book.default_jobs(True)
    build_book.main(["--jobs", "1"])
    assert seen["jobs"] == 1
    with pytest.raises(SystemExit):  # argparse's error: a clear message, nothing run
        build_book.main(["--jobs", "0"])


CODE_WIDTH = 86  # characters of a code line that fit a 1280-px window (mvae_lib/sphinx_interactive.py)


def test_code_cells_fit_the_page():
    """No code line of a chapter is wider than what a 1280-px window shows without scrolling."""
    long = []
    for chapter in notebook_chapters():
        lines = (ROOT / f"{chapter}.md").read_text().splitlines()
        inside = False
        for i, line in enumerate(lines, 1):
            if line.startswith("```{code-cell}"):
                inside = True
            elif line.startswith("```"):
                inside = False
            elif inside and len(line) > CODE_WIDTH:
                long.append(f"{chapter}.md:{i} ({len(line)} characters)")
    assert not long, "\n".join(long)


def test_every_exercise_has_a_solution_in_the_sources():
    """Exercises are sphinx-exercise directives, each with a solution right under it."""
    problems = []
    for chapter in chapters():
        text = (ROOT / f"{chapter}.md").read_text()
        exercises = re.findall(r"^```\{exercise\}\s*\n:label: (\S+)", text, re.M)
        solutions = re.findall(r"^```\{solution\} (\S+)", text, re.M)
        if sorted(exercises) != sorted(solutions):
            problems.append(f"{chapter}: exercises {exercises}, solutions for {solutions}")
        if any(not label.startswith(f"{Path(chapter).name}-ex-") for label in exercises):
            problems.append(f"{chapter}: exercise labels must read {Path(chapter).name}-ex-<n>: {exercises}")
        if "## Exercises" in text:
            section = text.split("## Exercises", 1)[1]
            if exercises == [] or re.search(r"^\d+\. ", section, re.M) or "Solution to exercise" in section:
                problems.append(f"{chapter}: its Exercises section has exercises that are not directives")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_every_chapter_was_executed_without_errors(built_book):
    for chapter in chapters():
        nb = built_book.parent / "src" / f"{chapter}.ipynb"
        if not nb.exists():  # a plain Markdown page (the bibliography)
            continue
        cells = json.loads(nb.read_text())["cells"]
        errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{chapter}: {errors[0]['ename']}: {errors[0]['evalue']}"
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), f"{chapter} has no outputs"


@pytest.mark.slow
def test_every_chapter_shows_its_mode_line(built_book):
    for chapter in notebook_chapters():
        page = (built_book / f"{chapter}.html").read_text()
        assert "<strong>Quick build</strong>" in page, f"{chapter} does not say which build made it"


@pytest.mark.slow
def test_every_rendered_exercise_has_its_solution(built_book):
    for chapter in chapters():
        page = (built_book / f"{chapter}.html").read_text()
        n_source = len(re.findall(r"^```\{exercise\}", (ROOT / f"{chapter}.md").read_text(), re.M))
        exercises = re.findall(r'<div class="exercise admonition" id="([^"]+)"', page)
        solutions = re.findall(r'class="solution[^"]*dropdown[^"]*" id="([^"]+)"', page)
        assert len(exercises) == n_source, f"{chapter}: {n_source} exercises in the source, {len(exercises)} rendered"
        assert len(solutions) == n_source, f"{chapter}: {n_source} exercises, {len(solutions)} collapsed solutions"


@pytest.mark.slow
def test_no_page_prints_a_python_repr(built_book):
    # a dict prints as {'key': ...}; a docstring shown on purpose may hold {"loss", ...}
    repr_like = re.compile(r"\{'|<mvae_lib\.|\b(Results|Comparison|BookMode|Split|Run|Preset)\(")
    for chapter in chapters():
        for area in output_areas((built_book / f"{chapter}.html").read_text()):
            found = repr_like.search(area)
            assert not found, f"{chapter} prints a Python repr: {area[max(0, found.start() - 60):found.end() + 60]!r}"


@pytest.mark.slow
def test_equation_numbers_carry_the_chapter_number(built_book):
    """(5.1), not (1): in its own chapter and in references from other chapters."""
    numbers = numbered_chapters()
    labels = {}
    for chapter, k in numbers.items():
        page = (built_book / f"{chapter}.html").read_text()
        for label, eqno in re.findall(r'id="equation-([^"]+)"[^>]*>\s*<span class="eqno">\(([^)]*)\)', page):
            assert re.fullmatch(rf"{k}\.\d+", eqno), f"{chapter} (chapter {k}): equation {label} is ({eqno})"
            labels[label] = eqno
    assert labels, "found no numbered equation"
    for chapter in chapters():
        page = (built_book / f"{chapter}.html").read_text()
        for label, shown in re.findall(r'href="[^"]*#equation-([^"]+)">\(([^)]*)\)</a>', page):
            if label in labels:
                assert shown == labels[label], f"{chapter}: reference to {label} reads ({shown}), not ({labels[label]})"


@pytest.mark.slow
def test_build_report_lists_every_chapter_and_the_machine(built_book):
    page = html.unescape(re.sub(r"<[^>]+>", "", (built_book / "book/build_report.html").read_text()))
    page = page.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')  # Sphinx's smart quotes
    assert "quick build" in page and "CPU:" in page and "torch " in page and "cores" in page
    for chapter in notebook_chapters():
        if chapter != "book/build_report":
            title = next(line[2:] for line in (ROOT / f"{chapter}.md").read_text().splitlines()
                         if line.startswith("# "))
            assert html.unescape(title) in page, f"the build report does not list {chapter}"


@pytest.mark.slow
def test_html_has_no_cdn_and_no_unresolved_glue(built_book):
    for chapter in chapters():
        page = (built_book / f"{chapter}.html").read_text()
        assert "cdn.jsdelivr.net" not in page and "mathjax@3" not in page, f"{chapter} loads MathJax from a CDN"
        assert "IProgress not found" not in page, f"{chapter} shows a widget warning"
        assert not re.search(r"\{glue:(text|md|figure)\}", page), f"{chapter} has unresolved glue"
    assert (built_book / "_static/mathjax/tex-chtml.js").exists()


def prose(page: str) -> str:
    """The text of a rendered page outside code, scripts, styles and maths."""
    page = re.sub(r"<(script|style|pre|code)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'<(span|div) class="math[^"]*">.*?</\1>', " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_prose_checker_finds_raw_tex_and_roles():
    assert re.search(RAW, prose("<p>so $\\log p(x)$ is</p>"))
    assert re.search(RAW, prose("<p>see {doc}`table3`</p>"))
    assert re.search(RAW, prose("<p>```{table} Table 4a. A caption with `code`</p>"))
    assert not re.search(RAW, prose('<p>fine</p><pre>r"$\\log p$"</pre><span class="math notranslate">\\(\\log\\)</span>'))


# TeX between dollars, a role left as text, or a directive's fence that did not parse
RAW = r"\$[^$\n]*?\\[a-zA-Z]+[^$\n]*?\$|\{(doc|eq|numref|cite|ref)\}`|```\{[a-z-]+\}"


@pytest.mark.slow
def test_glued_phrases_render_their_maths_and_roles(built_book):
    """A glued Markdown phrase is parsed as MyST (``{glue:md}`name:myst```): its maths is
    typeset and its roles are links, not raw text."""
    problems = []
    for chapter in chapters():
        text = prose((built_book / f"{chapter}.html").read_text())
        problems += [f"{chapter}: {m.group(0)[:60]!r}" for m in re.finditer(RAW, text)]
    assert not problems, "\n".join(problems)


def check_page(page: Path, extra: str = "") -> tuple[dict | None, str]:
    """Open a copy of ``page`` (with ``extra`` HTML at the end of its body) in headless
    Chromium with the probes; return what the page shows, or None and Chromium's last words."""
    probe = page.with_name(f"_check_{page.name}")
    probe.write_text(page.read_text().replace("<head>", "<head>" + CATCH, 1)
                     .replace("</body>", extra + PROBE + "</body>"))
    try:
        for _ in range(3):  # a loaded machine can run out the virtual-time budget: try again
            with tempfile.TemporaryDirectory() as profile:
                result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400",
                                         "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180)
            # (the theme gives scrollable <pre> elements a tabindex)
            found = re.search(r'<pre id="book-check"[^>]*>(.*?)</pre>', result.stdout, re.S)
            if found:
                return json.loads(html.unescape(found.group(1))), ""
    finally:
        probe.unlink()
    return None, result.stderr[-500:]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_page_check_sees_outside_requests_errors_and_undrawn_figures(built_book):
    """The probes can fail: a request to another host, a script error and a figure whose
    Bokeh document never loads are each reported."""
    extra = ('<img src="https://example.com/pixel.png"/><script>undefined_function();</script>'
             '<div class="mvae-live"></div>')
    check, said = check_page(built_book / "book/table1.html", extra)
    assert check is not None, said
    assert "https://example.com/pixel.png" in check["requests"]
    assert any("undefined_function" in e for e in check["errors"])
    assert check["expected_figures"] == len(check["figures"]) + 1 and all(f["drawn"] for f in check["figures"])


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_pages_render_offline_in_chromium(built_book):
    problems = []
    for chapter in chapters():
        check, said = check_page(built_book / f"{chapter}.html")
        if check is None:
            problems.append(f"{chapter}: page did not load or the check did not run (chromium said: {said})")
            continue
        if check["broken"]:
            problems.append(f"{chapter}: broken images {check['broken']}")
        if check["math"] and (not check["mathjax"] or check["raw"] or check["rendered"] < check["math"]):
            problems.append(f"{chapter}: maths not rendered ({check['rendered']}/{check['math']}), "
                            f"raw TeX left: {check['raw'][:3]}")
        if check["cut_captions"]:  # a wide table scrolls, its caption must not
            problems.append(f"{chapter}: table captions cut off: {check['cut_captions'][:3]}")
        if check["wide_code"] or check["wide_math"]:  # at a 1280-px window
            problems.append(f"{chapter}: wider than the page: code {check['wide_code'][:3]}, "
                            f"equations {check['wide_math'][:3]}")
        # interactive figures: every one drawn, with data; nothing fetched from outside the
        # book's folder; no JavaScript error
        if len(check["figures"]) != check["expected_figures"]:
            problems.append(f"{chapter}: {check['expected_figures']} interactive figures in the page, "
                            f"{len(check['figures'])} Bokeh documents loaded")
        for k, fig in enumerate(check["figures"]):
            if not fig["drawn"] or not fig["renderers"] or not fig["points"]:
                problems.append(f"{chapter}: interactive figure {k} not drawn or without data: {fig}")
        book = built_book.resolve().as_uri() + "/"
        outside = [u for u in check["requests"] if not u.startswith((book, "data:", "blob:"))]
        if outside:
            problems.append(f"{chapter}: requests outside the book's folder: {outside[:3]}")
        if check["errors"]:
            problems.append(f"{chapter}: JavaScript errors: {check['errors'][:3]}")
        if chapter.endswith(("latent_spaces", "table1", "table2", "table3", "fill")) and not check["figures"]:
            problems.append(f"{chapter}: expected interactive figures, found none")
        if chapter.endswith(("vae", "mvae")) and not check["math"]:
            problems.append(f"{chapter}: expected equations, found none")
        if chapter.endswith(("table1", "table2", "latent_spaces")) and not check["images"]:
            problems.append(f"{chapter}: expected figures, found none")
    assert not problems, "\n".join(problems)
    shots = built_book.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    for name in ("vae", "table1", "table2", "discussion", "build_report"):
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400",
                            f"--screenshot={shots / (name + '.png')}", (built_book / f"book/{name}.html").as_uri()],
                           capture_output=True, timeout=120)
        assert (shots / f"{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_every_chapter_offers_its_notebook_to_run_live(built_book):
    """The download button of each chapter gives the chapter as a reader runs it: a valid
    notebook without outputs, with the source's default parameters (not this build's)."""
    import nbformat

    for chapter in notebook_chapters():
        page = (built_book / f"{chapter}.html").read_text()
        assert f'_sources/{chapter}.ipynb"' in page, f"{chapter}: no notebook download link"
        nb = nbformat.read(built_book / "_sources" / f"{chapter}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.get("outputs") for c in code), f"{chapter}: the offered notebook has outputs"
        tags = [t for c in code for t in c.metadata.get("tags", [])]
        assert "parameters" in tags and "injected-parameters" not in tags, f"{chapter}: {tags}"
        assert any(c.source.startswith("quick = True") for c in code if "parameters" in c.metadata.get("tags", []))
    intro = html.unescape(re.sub(r"<[^>]+>", "", (built_book / "book/intro.html").read_text()))
    assert "Run any chapter live" in intro and "jupyter lab" in intro and "requirements.txt" in intro


# Injected into a copy of the latent-spaces page: hover the first point of the first map,
# then hide the first legend entry (as a click on it does) and count what is still shown.
HOVER = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  var out = document.createElement('pre'); out.id = 'hover-check'; var info = {};
  try {
    var doc = Bokeh.documents[0], plot = null, views = Bokeh.index.all_views();
    doc.all_models.forEach(function (m) { if (!plot && m.type === 'Figure' && m.title && m.title.text) plot = m; });
    var view = null;
    for (const v of views) { if (v.model === plot) view = v; }
    var r = plot.renderers.find(function (r) { return r.type === 'GlyphRenderer' && r.data_source.get_length() > 0; });
    var data = r.data_source.data, i = data.cls.indexOf(r.view.filter.group);
    var sx = view.frame.x_scale.compute(data[r.glyph.x.field][i]), sy = view.frame.y_scale.compute(data[r.glyph.y.field][i]);
    var box = view.canvas_view.el.getBoundingClientRect();
    var at = {bubbles: true, composed: true, clientX: box.left + sx, clientY: box.top + sy, pointerType: 'mouse', isPrimary: true};
    view.canvas_view.events_el.dispatchEvent(new PointerEvent('pointerenter', at));
    view.canvas_view.events_el.dispatchEvent(new PointerEvent('pointermove', at));
    info.label = data.label[i]; info.index = data.index[i];
    setTimeout(function () {
      var tips = [], texts = [];
      (function walk(node, shadow) {
        if (node.shadowRoot) { walk(node.shadowRoot, true); }
        node.childNodes.forEach(function (c) {
          if (c.nodeType !== 1) { return; }
          if (shadow && c.tagName === 'IMG') { tips.push(c.getAttribute('src')); texts.push(c.parentNode.textContent); }
          walk(c, shadow);
        });
      })(document.body, false);
      info.images = tips.filter(function (t) { return t.indexOf('data:image/png') === 0; }).length;
      info.text = texts.join(' | ').slice(0, 300);
      var keys = [], shown = function (group) {
        var n = 0; doc.all_models.forEach(function (m) {
          if (m.type === 'GlyphRenderer' && m.view && m.view.filter && m.view.filter.group === group && m.visible) { n += 1; }
        }); return n; };
      doc.all_models.forEach(function (m) { if (m.type === 'GlyphRenderer' && m.tags.indexOf('legend-key') >= 0) keys.push(m); });
      var before0 = shown('0'), before1 = shown('1');
      keys[0].visible = false;  // what clicking the legend's first entry (the first class) does
      setTimeout(function () {  // (Bokeh runs the CustomJS callback asynchronously)
        info.hidden = {before: before0, after: shown('0'), others_before: before1, others_after: shown('1')};
        out.textContent = JSON.stringify(info); document.body.appendChild(out);
      }, 500);
    }, 1000);
    return;
  } catch (e) { info.error = String(e); }
  out.textContent = JSON.stringify(info); document.body.appendChild(out);
}, 2000); });
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_hovering_a_code_shows_its_digit_and_the_legend_hides_a_class(built_book):
    page = built_book / "book/latent_spaces.html"
    probe = page.with_name("_hover_latent_spaces.html")
    probe.write_text(page.read_text().replace("</body>", HOVER + "</body>"))
    try:
        for _ in range(3):
            with tempfile.TemporaryDirectory() as profile:
                result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2000",
                                         "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180)
            found = re.search(r'<pre id="hover-check"[^>]*>(.*?)</pre>', result.stdout, re.S)
            if found:
                break
    finally:
        probe.unlink()
    assert found, result.stderr[-500:]
    info = json.loads(html.unescape(found.group(1)))
    assert "error" not in info, info
    assert info["images"] >= 1, f"the tooltip shows no digit: {info}"  # both halves, as a PNG
    assert info["label"] in info["text"] and f"test example {info['index']}" in info["text"], info
    hidden = info["hidden"]
    assert hidden["before"] > 0 and hidden["after"] == 0, f"hiding the first class left points shown: {hidden}"
    assert hidden["others_after"] == hidden["others_before"] > 0, f"hiding one class hid others: {hidden}"

